package io.stload.nativeio;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A read-only file descriptor. Reads are positional (pread), so threads may share one; closing while
 * another thread reads is the caller's bug, as the descriptor number may be reused at once.
 */
final class PosixFile implements NativeFile {
    /** Linux moves at most 0x7ffff000 bytes per read(2); 1 GiB keeps each call within that and aligned. */
    private static final long MAX_CHUNK = 1L << 30;

    private final int fd;
    private final Path path;
    private final boolean direct;
    private final int directAlignment;
    private final AtomicBoolean closed = new AtomicBoolean();

    PosixFile(int fd, Path path, boolean direct, int directAlignment) {
        this.fd = fd;
        this.path = path;
        this.direct = direct;
        this.directAlignment = directAlignment;
    }

    @Override
    public boolean isDirect() {
        return direct;
    }

    @Override
    public int directAlignment() {
        return directAlignment;
    }

    @Override
    public long size() throws IOException {
        ensureOpen();
        long size = LibC.size(fd);
        if (size < 0) {
            throw LibC.error("lseek", path, (int) -size);
        }
        return size;
    }

    @Override
    public long read(MemorySegment dst, long offset) throws IOException {
        ensureOpen();
        if (!dst.isNative()) {
            throw new IllegalArgumentException("pread needs a native segment: " + dst);
        }
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset: " + offset);
        }
        if (direct) {
            checkAligned(dst, offset);
        }
        long done = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            while (done < dst.byteSize()) {
                long count = Math.min(dst.byteSize() - done, MAX_CHUNK);
                long n = LibC.pread(state, fd, dst.asSlice(done, count), offset + done);
                if (n == -LibC.EINTR) {
                    continue;
                }
                if (n < 0) {
                    throw LibC.error("pread at offset " + (offset + done), path, (int) -n);
                }
                if (n == 0) {
                    break;
                }
                done += n;
                if (direct && (done & (directAlignment - 1)) != 0) {
                    // Short of an aligned end: the end of the file. O_DIRECT cannot read on from there, and some
                    // file systems refuse the attempt with EINVAL rather than return 0.
                    break;
                }
            }
        }
        return done;
    }

    private void checkAligned(MemorySegment dst, long offset) {
        long mask = directAlignment - 1;
        if ((offset & mask) != 0 || (dst.byteSize() & mask) != 0 || (dst.address() & mask) != 0) {
            throw new IllegalArgumentException("O_DIRECT read of " + path + " must be aligned to " + directAlignment
                    + " bytes: offset " + offset + ", length " + dst.byteSize()
                    + ", address 0x" + Long.toHexString(dst.address()));
        }
    }

    @Override
    public boolean fadvise(long offset, long length, FileAdvice advice) {
        return !closed.get() && LibC.posixFadvise(fd, offset, length, advice.code) == 0;
    }

    @Override
    public boolean readahead(long offset, long length) {
        return !closed.get() && LibC.readahead(fd, offset, length) == 0;
    }

    @Override
    public void close() throws IOException {
        if (closed.compareAndSet(false, true)) {
            int result = LibC.close(fd);
            // After EINTR Linux has released the descriptor already; retrying could close someone else's.
            if (result != 0 && result != -LibC.EINTR) {
                throw LibC.error("close", path, -result);
            }
        }
    }

    private void ensureOpen() throws IOException {
        if (closed.get()) {
            throw new IOException(path + " is closed");
        }
    }

    @Override
    public String toString() {
        return "PosixFile[" + path + (direct ? ", O_DIRECT" : "") + "]";
    }
}
