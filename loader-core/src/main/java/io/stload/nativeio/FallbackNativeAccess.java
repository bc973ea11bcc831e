package io.stload.nativeio;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@link NativeAccess} in pure Java, for where libc cannot be called: reads go through {@link FileChannel},
 * advice is not given, residency is unknown and the filesystem is named from /proc/self/mountinfo when
 * there is one. The type of a filesystem named that way is the magic its name implies, 0 if none.
 * Locks are FileChannel (fcntl) locks, which do not interoperate with flock(2): a download lock held by
 * huggingface_hub is invisible here, so waiting for a peer relies on a growing {@code .incomplete} alone.
 */
final class FallbackNativeAccess implements NativeAccess {
    private static final int PAGE_SIZE = 4096;

    private final String reason;

    FallbackNativeAccess(String reason) {
        this.reason = reason;
    }

    @Override
    public boolean isNative() {
        return false;
    }

    @Override
    public String fallbackReason() {
        return reason;
    }

    @Override
    public int pageSize() {
        return PAGE_SIZE;
    }

    @Override
    public MemorySegment allocate(long bytes, Arena arena) {
        return arena.allocate(bytes, pageSize());
    }

    @Override
    public boolean madvise(MemorySegment mapping, MemoryAdvice advice) {
        return false;
    }

    @Override
    public double residentFraction(MemorySegment mapping, int maxSamplePages) {
        return -1;
    }

    @Override
    public FsStat statfs(Path path) throws IOException {
        Path real = path.toRealPath();
        long blockSize = blockSize(real);
        return MountTable.load().find(real)
                .map(mount -> new FsStat(FsTypes.magicOf(mount.fsType()), mount.fsType(), blockSize))
                .orElse(FsStat.UNKNOWN);
    }

    private static long blockSize(Path path) {
        try {
            return Files.getFileStore(path).getBlockSize();
        } catch (IOException | UnsupportedOperationException e) {
            return FsStat.UNKNOWN.blockSize();
        }
    }

    @Override
    public NativeFile open(Path path, boolean direct) throws IOException {
        return new ChannelFile(FileChannel.open(path, StandardOpenOption.READ));
    }

    @Override
    public HeldLock tryLock(Path file, boolean exclusive) throws IOException {
        // A lock file is a regular file, never a symlink (NOFOLLOW_LINKS opens with O_NOFOLLOW) or a FIFO.
        FileChecks.requireLockableFile(file);
        FileChannel channel = exclusive
                ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)
                : FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        try {
            FileLock lock = channel.tryLock(0, Long.MAX_VALUE, !exclusive);
            if (lock != null) {
                return channel::close;
            }
        } catch (OverlappingFileLockException e) {
            // Held by this JVM through another channel: as much a conflict as another process's lock.
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        channel.close();
        return null;
    }

    @Override
    public HeldLock tryLockFolder(Path dir) {
        // FileChannel's locks are fcntl(2) record locks: an exclusive one needs a descriptor open for writing, which
        // a folder cannot have. Nothing is held.
        return () -> { };
    }

    /** A {@link NativeFile} over a FileChannel: never direct, and without advice. */
    private record ChannelFile(FileChannel channel) implements NativeFile {
        /** ByteBuffers are int-indexed: larger segments are read a slice at a time. */
        private static final long MAX_SLICE = 1L << 30;

        @Override
        public boolean isDirect() {
            return false;
        }

        @Override
        public int directAlignment() {
            return PAGE_SIZE;
        }

        @Override
        public long size() throws IOException {
            return channel.size();
        }

        @Override
        public long read(MemorySegment dst, long offset) throws IOException {
            long done = 0;
            while (done < dst.byteSize()) {
                // A short read just means another pass, from where it stopped.
                ByteBuffer buffer = dst.asSlice(done, Math.min(dst.byteSize() - done, MAX_SLICE)).asByteBuffer();
                int n = channel.read(buffer, offset + done);
                if (n < 0) {
                    break;
                }
                done += n;
            }
            return done;
        }

        @Override
        public boolean fadvise(long offset, long length, FileAdvice advice) {
            return false;
        }

        @Override
        public boolean readahead(long offset, long length) {
            return false;
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
