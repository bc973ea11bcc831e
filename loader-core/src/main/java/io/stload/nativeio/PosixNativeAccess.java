package io.stload.nativeio;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

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
        int result;
        try (Arena arena = Arena.ofConfined()) {
            result = LibC.madvise(LibC.callState(arena), start, end - start, code(advice));
        }
        return switch (-result) {
            case 0 -> true;
            // EIO/EFAULT: populating hit a bad page or file; ENOMEM: the range is not (all) mapped.
            case LibC.EIO, LibC.EFAULT, LibC.ENOMEM -> throw LibC.error("madvise(" + advice + ")", -result);
            // EINVAL is what a kernel without the advice answers (MADV_POPULATE_READ before 5.14).
            default -> false;
        };
    }

    private static int code(MemoryAdvice advice) {
        return switch (advice) {
            case NORMAL -> 0;
            case RANDOM -> 1;
            case SEQUENTIAL -> 2;
            case WILLNEED -> 3;
            case DONTNEED -> 4;
            case POPULATE_READ -> 22;
            case HUGEPAGE -> 14;
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
        // Over-allocate so the usable range starts on a huge-page boundary: THP backs it with 2 MiB pages,
        // which makes first-touch faults 512x rarer and copies into it markedly faster.
        long length = bytes + HUGE_PAGE;
        long base = LibC.mmapAnonymous(length);
        if (base < 0) {
            throw LibC.error("mmap(" + length + " bytes)", (int) -base);
        }
        long start = (base + HUGE_PAGE - 1) & -HUGE_PAGE;
        MemorySegment segment = MemorySegment.ofAddress(start).reinterpret(bytes, arena, s -> LibC.munmap(base, length));
        madvise(segment, MemoryAdvice.HUGEPAGE);
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
                return new PosixFile(fd, file, true, directAlignment(file));
            }
            // EINVAL means this filesystem does not do O_DIRECT; a buffered descriptor still reads the file.
            if (-fd != LibC.EINVAL) {
                throw LibC.error("open", file, -fd);
            }
        }
        int fd = LibC.open(file, flags);
        if (fd < 0) {
            throw LibC.error("open", file, -fd);
        }
        return new PosixFile(fd, file, false, MIN_DIRECT_ALIGNMENT);
    }

    @Override
    public HeldLock tryLock(Path path, boolean exclusive) throws IOException {
        Path file = path.toAbsolutePath();
        FileChecks.requireLockableFile(file);
        // flock needs no write access, so even a read-only cache can be locked and probed. O_NONBLOCK: a FIFO
        // put there after the check above must not block the open (a lock probe never waits).
        int fd = LibC.open(file, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NONBLOCK);
        if (fd < 0) {
            throw LibC.error("open", file, -fd);
        }
        int r = LibC.flock(fd, (exclusive ? LibC.LOCK_EX : LibC.LOCK_SH) | LibC.LOCK_NB);
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

    private static int directAlignment(Path file) throws IOException {
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
