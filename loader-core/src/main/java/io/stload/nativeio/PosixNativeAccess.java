package io.stload.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.function.IntSupplier;

/** {@link NativeAccess} through libc on Linux (x86-64, aarch64), by way of {@link LibC}. */
final class PosixNativeAccess implements NativeAccess {
    /** mincore sampling looks at this many windows spread over a large mapping. */
    private static final int SAMPLE_WINDOWS = 8;
    /** Below this, or for a block size that is not a power of two, O_DIRECT buffers align to a 4 KiB page. */
    private static final int MIN_DIRECT_ALIGNMENT = 4096;

    private final int pageSize;

    /** Binds libc; throws (ExceptionInInitializerError, from LibC) when that is not possible here. */
    PosixNativeAccess() {
        this.pageSize = LibC.pageSize();
    }

    @Override
    public boolean isNative() {
        return true;
    }

    @Override
    public String fallbackReason() {
        return null;
    }

    @Override
    public int pageSize() {
        return pageSize;
    }

    @Override
    public boolean madvise(MemorySegment mapping, MemoryAdvice advice) throws IOException {
        requireNative(mapping);
        if (mapping.byteSize() == 0) {
            return true;
        }
        long start = alignDown(mapping.address());
        long end = alignUp(mapping.address() + mapping.byteSize());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            return adviceTaken(() -> LibC.madvise(state, start, end - start, advice.code), advice);
        }
    }

    /**
     * Runs a madvise call (0 or -errno), again after EINTR. Only the errnos of a kernel without the advice,
     * EINVAL (MADV_POPULATE_READ before 5.14) and ENOSYS, mean "unsupported" (false); any other error (EIO,
     * EFAULT past a truncated file's end, EPERM, EHWPOISON, ENOMEM for a range not mapped) is thrown.
     */
    static boolean adviceTaken(IntSupplier madvise, MemoryAdvice advice) throws IOException {
        int result;
        do {
            result = madvise.getAsInt();
        } while (-result == LibC.EINTR);
        return switch (-result) {
            case 0 -> true;
            case LibC.EINVAL, LibC.ENOSYS -> false;
            default -> throw LibC.error("madvise(" + advice + ")", -result);
        };
    }

    /** Huge pages are 2 MiB on x86-64 and (with 4 KiB base pages) on aarch64. */
    private static final long HUGE_PAGE = 2L << 20;

    @Override
    @SuppressWarnings("restricted") // the mapping's size and lifetime are set here, from the mmap call itself
    public MemorySegment allocate(long bytes, Arena arena) throws IOException {
        if (bytes == 0) {
            return arena.allocate(0, pageSize);
        }
        // Each allocation stays one mapping, so that a load of many shards (one allocation each) never nears
        // vm.max_map_count: past it, the JVM can no longer map a thread's stack and aborts.
        if (bytes < HUGE_PAGE) {
            // No huge page fits: a plain mapping, which the kernel merges with the ones beside it.
            long base = LibC.mmapAnonymous(bytes);
            if (base < 0) {
                throw LibC.error("mmap(" + bytes + " bytes)", (int) -base);
            }
            return MemorySegment.ofAddress(base).reinterpret(bytes, arena, s -> LibC.munmap(base, bytes));
        }
        // Over-allocate so the usable range starts on a huge-page boundary: THP backs it with 2 MiB pages,
        // which makes first-touch faults 512x rarer and copies into it markedly faster. The slack before and
        // after is given back at once.
        long length = bytes + HUGE_PAGE;
        long base = LibC.mmapAnonymous(length);
        if (base < 0) {
            throw LibC.error("mmap(" + length + " bytes)", (int) -base);
        }
        long start = (base + HUGE_PAGE - 1) & -HUGE_PAGE;
        long end = alignUp(start + bytes);
        if (start > base) {
            LibC.munmap(base, start - base);
        }
        if (base + length > end) {
            LibC.munmap(end, base + length - end);
        }
        MemorySegment segment = MemorySegment.ofAddress(start)
                .reinterpret(bytes, arena, s -> LibC.munmap(start, end - start));
        try {
            madvise(segment, MemoryAdvice.HUGEPAGE);
        } catch (IOException e) {
            // Huge pages are a speed hint on memory just mapped, not file data: a refusal (EPERM under a seccomp
            // filter, say) leaves ordinary pages, which are correct.
        }
        return segment;
    }

    @Override
    public double residentFraction(MemorySegment mapping, int maxSamplePages) {
        if (maxSamplePages < 1) {
            throw new IllegalArgumentException("maxSamplePages must be positive: " + maxSamplePages);
        }
        requireNative(mapping);
        if (mapping.byteSize() == 0) {
            return -1;
        }
        long start = alignDown(mapping.address());
        long pages = (alignUp(mapping.address() + mapping.byteSize()) - start) / pageSize;
        int windows = pages <= maxSamplePages ? 1 : Math.min(SAMPLE_WINDOWS, maxSamplePages);
        long windowPages = windows == 1 ? pages : maxSamplePages / windows;
        long sampled = 0;
        long resident = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            MemorySegment vec = arena.allocate(windowPages);
            for (int w = 0; w < windows; w++) {
                long firstPage = windows == 1 ? 0 : w * (pages - windowPages) / (windows - 1);
                if (LibC.mincore(state, start + firstPage * pageSize, windowPages * pageSize, vec) != 0) {
                    return -1;
                }
                for (long i = 0; i < windowPages; i++) {
                    // Only the low bit is defined; the others are reserved.
                    resident += vec.get(JAVA_BYTE, i) & 1;
                }
                sampled += windowPages;
            }
        }
        return (double) resident / sampled;
    }

    @Override
    public FsStat statfs(Path path) throws IOException {
        long[] typeAndBlockSize = LibC.statfs(path.toAbsolutePath());
        long type = typeAndBlockSize[0];
        String name = FsTypes.nameOf(type);
        if (FsTypes.isAmbiguous(type)) {
            name = FsTypes.refine(type, name, MountTable.load().find(path.toRealPath()));
        }
        return new FsStat(type, name, typeAndBlockSize[1]);
    }

    @Override
    public NativeFile open(Path path, boolean direct) throws IOException {
        Path file = path.toAbsolutePath();
        int flags = LibC.O_RDONLY | LibC.O_CLOEXEC;
        if (direct) {
            int fd = LibC.open(file, flags | LibC.O_DIRECT);
            if (fd >= 0) {
                PosixFile f = directFile(fd, file);
                if (f != null) {
                    return f;
                }
            } else if (-fd != LibC.EINVAL) {
                throw LibC.error("open", file, -fd);
            }
            // EINVAL, or a file that statx says takes no direct I/O: a buffered descriptor still reads it.
        }
        int fd = LibC.open(file, flags);
        if (fd < 0) {
            throw LibC.error("open", file, -fd);
        }
        return new PosixFile(fd, file, false, MIN_DIRECT_ALIGNMENT);
    }

    /**
     * The O_DIRECT descriptor as a file, or null (the descriptor closed) when the file takes no direct I/O. The
     * descriptor is closed, too, when its alignment cannot be learnt: nothing else would close it.
     */
    private static PosixFile directFile(int fd, Path file) throws IOException {
        try {
            int alignment = directAlignment(fd, file);
            if (alignment == 0) {
                LibC.close(fd);
                return null;
            }
            return new PosixFile(fd, file, true, alignment);
        } catch (IOException | RuntimeException e) {
            LibC.close(fd);
            throw e;
        }
    }

    @Override
    public HeldLock tryLock(Path path, boolean exclusive) throws IOException {
        Path file = path.toAbsolutePath();
        // flock needs no write access, so even a read-only cache can be locked and probed. A lock file is
        // never a symlink or a FIFO: O_NOFOLLOW refuses the one, and O_NONBLOCK keeps one put there after the
        // check above from blocking the open until the regular-file check below refuses it.
        FileChecks.requireLockableFile(file);
        int fd = LibC.open(file, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOFOLLOW | LibC.O_NONBLOCK);
        if (fd < 0) {
            throw -fd == LibC.ELOOP ? new IOException(file + " is a symlink, not a lock file; refusing it")
                    : LibC.error("open", file, -fd);
        }
        try {
            requireRegularFile(fd, file);
        } catch (IOException e) {
            LibC.close(fd);
            throw e;
        }
        return flock(fd, file, exclusive ? LibC.LOCK_EX : LibC.LOCK_SH);
    }

    @Override
    public HeldLock tryLockFolder(Path dir) throws IOException {
        Path folder = dir.toAbsolutePath();
        int fd = LibC.open(folder, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC | LibC.O_NOFOLLOW);
        if (fd < 0) {
            throw LibC.error("open", folder, -fd);
        }
        try {
            return flock(fd, folder, LibC.LOCK_EX);
        } catch (IOException e) {
            return () -> { }; // a file system without flock (ENOLCK, EOPNOTSUPP, or EBADF over NFS): nothing to hold
        }
    }

    /** Locks the descriptor without waiting; it is closed unless the lock is held and returned. */
    private static HeldLock flock(int fd, Path file, int operation) throws IOException {
        int r = LibC.flock(fd, operation | LibC.LOCK_NB);
        if (r == 0) {
            // Closing the only descriptor of the open file releases the flock.
            return () -> {
                int c = LibC.close(fd);
                if (c < 0) {
                    throw LibC.error("close", file, -c);
                }
            };
        }
        LibC.close(fd);
        if (-r == LibC.EWOULDBLOCK) {
            return null;
        }
        throw LibC.error("flock", file, -r);
    }

    /** Checks what the descriptor itself refers to, through its /proc/self/fd link, which stat follows. */
    private static void requireRegularFile(int fd, Path file) throws IOException {
        if (!Files.readAttributes(Path.of("/proc/self/fd", Integer.toString(fd)), BasicFileAttributes.class)
                .isRegularFile()) {
            throw new IOException(file + " is not a regular file; refusing it as a lock file");
        }
    }

    /**
     * What O_DIRECT reads of the file must align to (offsets, lengths and memory), at least a page's 4 KiB; 0 when
     * the file takes none. The kernel says it through statx where it can: the file system's block size is only a
     * guess, too small on an overlay over a disk of 16 KiB sectors (reads then fail with EINVAL) and too large on
     * an XFS of 16 KiB blocks over 512-byte sectors (reads then go buffered for nothing).
     */
    private static int directAlignment(int fd, Path file) throws IOException {
        int[] dio = LibC.directIoAlignment(fd);
        if (dio != null) {
            return dio[1] == 0 ? 0 : Math.max(MIN_DIRECT_ALIGNMENT, Math.max(dio[0], dio[1]));
        }
        long blockSize = LibC.statfs(file)[1];
        boolean usable = blockSize > MIN_DIRECT_ALIGNMENT && blockSize <= 1 << 20 && Long.bitCount(blockSize) == 1;
        return usable ? (int) blockSize : MIN_DIRECT_ALIGNMENT;
    }

    private long alignDown(long address) {
        return address & -(long) pageSize;
    }

    private long alignUp(long address) {
        return alignDown(address + pageSize - 1);
    }

    private static void requireNative(MemorySegment segment) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException("not a native (mapped or allocated) segment: " + segment);
        }
    }
}
