package io.stload.nativeio;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * The libc calls the loader needs (madvise, posix_fadvise, readahead, mincore, statfs, open/pread with
 * O_DIRECT), behind small Java methods. {@link #get()} returns the FFM-backed implementation where the
 * platform and native access allow it, else a pure-Java fallback that still works (slower) and says why
 * in {@link #fallbackReason()}. This package is the only one that calls {@code Linker}.
 */
public interface NativeAccess {

    /** The process-wide instance: native where possible, else the fallback. */
    static NativeAccess get() {
        return NativeAccessHolder.INSTANCE;
    }

    /** The pure-Java implementation, for platforms without the native one and for tests of the fallback. */
    static NativeAccess fallback(String reason) {
        return new FallbackNativeAccess(reason);
    }

    /** False for the pure-Java fallback. */
    boolean isNative();

    /** Why the fallback is in use, or null when native calls are available. */
    String fallbackReason();

    /** The system page size in bytes. */
    int pageSize();

    /**
     * madvise(2) over a mapped segment (rounded out to page boundaries), again when interrupted. Returns false
     * only when the advice is not supported here (EINVAL or ENOSYS: e.g. MADV_POPULATE_READ before Linux 5.14,
     * or the fallback); every other error (EIO, EFAULT past a truncated file's end, EPERM, EHWPOISON) is thrown,
     * for the caller to name its file.
     */
    boolean madvise(MemorySegment mapping, MemoryAdvice advice) throws IOException;

    /**
     * Reads exactly the pages of {@code range}, part of a read-only file mapping, into the page cache and maps
     * them: WILLNEED over the range, which starts the reads without waiting, then MADV_POPULATE_READ, which
     * waits for them. Populating alone would fault each missing page in, and a fault reads around the page
     * (half the disk's read-ahead on each side, 8 MiB in all on some disks) and then ahead of it: for a
     * tensor-parallel rank's short ranges, the other ranks' bytes too. WILLNEED reads no margin, but at most
     * max(read-ahead, largest request) per call, 128 KiB on a disk with the kernel's default read-ahead, so
     * it is asked for in calls of that size, unless every page of a mincore sample is already in memory (a warm
     * cache would pay for those calls and get nothing; a sample, because mincore of every page of a window
     * costs more than the calls it would save).
     *
     * @return false when MADV_POPULATE_READ is not supported here (the reads asked for still happen)
     */
    default boolean populate(MemorySegment range) throws IOException {
        final long perCall = 128 << 10;
        if (range.byteSize() > 0 && residentFraction(range, 64) < 1.0) {
            for (long off = 0; off < range.byteSize(); off += perCall) {
                madvise(range.asSlice(off, Math.min(perCall, range.byteSize() - off)), MemoryAdvice.WILLNEED);
            }
        }
        return madvise(range, MemoryAdvice.POPULATE_READ);
    }

    /**
     * Fraction in [0, 1] of the pages of {@code mapping} resident in the page cache, estimated with
     * mincore(2) over at most {@code maxSamplePages} pages spread evenly across it; -1 when unknown.
     */
    double residentFraction(MemorySegment mapping, int maxSamplePages);

    /**
     * {@code bytes} of page-aligned, zero-filled host memory that lives as long as {@code arena}. The native
     * implementation maps it anonymously, backed by transparent huge pages where the kernel allows, so it
     * is neither zeroed in a separate pass nor faulted in 4 KiB at a time; the fallback uses the arena.
     */
    MemorySegment allocate(long bytes, Arena arena) throws IOException;

    /** statfs(2) of the filesystem holding {@code path}. */
    FsStat statfs(Path path) throws IOException;

    /**
     * Opens a file read-only. With {@code direct}, tries O_DIRECT; {@link NativeFile#isDirect()} says
     * whether it was granted (tmpfs refuses it, and the fallback never has it).
     */
    NativeFile open(Path path, boolean direct) throws IOException;

    /**
     * Takes an advisory lock on an existing file without waiting: the held lock, or null when another open
     * file (in this process or another) holds a conflicting one. The native implementation uses flock(2),
     * the lock huggingface_hub's downloads hold, on a read-only descriptor; the fallback uses
     * FileChannel locks, which are fcntl record locks on Linux and do not see flock locks at all (and, for
     * an exclusive lock, need the file to be writable).
     */
    HeldLock tryLock(Path file, boolean exclusive) throws IOException;

    /**
     * Takes an exclusive flock(2) on a folder itself, without waiting: the held lock, or null when another open
     * descriptor (in this process or another, in any PID namespace) holds it. It adds no file to the folder, does not
     * keep it from being deleted, and goes with its process, however that ends. Where there is no flock (a file
     * system without it, such as NFS without lock support, or the fallback), the lock returned holds nothing.
     *
     * @throws IOException if the folder cannot be opened (or is a symlink)
     */
    HeldLock tryLockFolder(Path dir) throws IOException;

    /** True when {@link #tryLock} sees the flock(2) locks of other processes. */
    default boolean locksInteroperateWithFlock() {
        return isNative();
    }
}
