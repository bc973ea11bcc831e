package io.stload.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Downcall handles for the Linux libc functions this package uses (x86-64 and aarch64, whose constants
 * agree except for O_DIRECT), bound once when the class initializes. Failing to bind, for a missing
 * symbol, an unknown architecture or native access denied, fails class initialization: the caller picks
 * the fallback then.
 *
 * <p>The wrappers follow the kernel's convention: a non-negative result, or minus the errno.
 */
final class LibC {
    static final int EPERM = 1;
    static final int EINTR = 4;
    static final int EIO = 5;
    static final int ENOENT = 2;
    static final int ENOMEM = 12;
    static final int EACCES = 13;
    static final int EFAULT = 14;
    static final int EINVAL = 22;
    static final int ENOSYS = 38;
    static final int ELOOP = 40;
    static final int EWOULDBLOCK = 11;

    static final int LOCK_SH = 1;
    static final int LOCK_EX = 2;
    static final int LOCK_NB = 4;

    static final int O_RDONLY = 0;
    static final int O_CLOEXEC = 0x80000;
    /** Opening a FIFO (or device) this way does not wait for its other end. */
    static final int O_NONBLOCK = 0x800;
    static final int O_NOFOLLOW = oNoFollow(System.getProperty("os.arch", ""));
    static final int O_DIRECT = oDirect(System.getProperty("os.arch", ""));
    static final int O_DIRECTORY = oDirectory(System.getProperty("os.arch", ""));

    private static final int SC_PAGESIZE = 30;
    private static final int SEEK_END = 2;
    /** struct statfs is 120 bytes on 64-bit Linux; the slack guards against a libc that writes more. */
    private static final long STATFS_BYTES = 256;
    /** struct statx is 256 bytes; stx_mask is its first word, stx_dio_mem_align and stx_dio_offset_align at 152. */
    private static final long STATX_BYTES = 256;
    private static final int STATX_DIOALIGN = 0x2000;
    private static final int AT_EMPTY_PATH = 0x1000;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle MADVISE =
            bind("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), CAPTURE_ERRNO);
    private static final MethodHandle MINCORE =
            bind("mincore", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS), CAPTURE_ERRNO);
    private static final MethodHandle STATFS =
            bind("statfs", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), CAPTURE_ERRNO);
    /** Null where libc has no statx (glibc before 2.28, as on Amazon Linux 2): everything else still binds. */
    private static final MethodHandle STATX = bindIfPresent("statx",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS), CAPTURE_ERRNO);
    // open(2) is variadic: the mode travels as the one variadic argument, ignored without O_CREAT.
    private static final MethodHandle OPEN = bind("open", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PREAD =
            bind("pread", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), CAPTURE_ERRNO);
    private static final MethodHandle LSEEK =
            bind("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT), CAPTURE_ERRNO);
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT), CAPTURE_ERRNO);
    // posix_fadvise returns the error number itself and leaves errno alone.
    private static final MethodHandle POSIX_FADVISE =
            bind("posix_fadvise", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT));
    private static final MethodHandle READAHEAD =
            bind("readahead", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG), CAPTURE_ERRNO);
    private static final MethodHandle MMAP = bind("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG), CAPTURE_ERRNO);
    private static final MethodHandle MUNMAP =
            bind("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG), CAPTURE_ERRNO);
    private static final MethodHandle FLOCK = bind("flock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), CAPTURE_ERRNO);
    private static final MethodHandle SYSCONF = bind("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
    private static final MethodHandle STRERROR = bind("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));

    private LibC() {
    }

    private static int oDirect(String arch) {
        return switch (arch) {
            case "amd64", "x86_64" -> 0x4000;
            case "aarch64" -> 0x10000;
            default -> throw new UnsupportedOperationException("unsupported architecture: " + arch);
        };
    }

    private static int oNoFollow(String arch) {
        return switch (arch) {
            case "amd64", "x86_64" -> 0x20000;
            case "aarch64" -> 0x8000;
            default -> throw new UnsupportedOperationException("unsupported architecture: " + arch);
        };
    }

    private static int oDirectory(String arch) {
        return switch (arch) {
            case "amd64", "x86_64" -> 0x10000;
            case "aarch64" -> 0x4000;
            default -> throw new UnsupportedOperationException("unsupported architecture: " + arch);
        };
    }

    private static MethodHandle bindIfPresent(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return LINKER.defaultLookup().find(name).isPresent() ? bind(name, descriptor, options) : null;
    }

    @SuppressWarnings("restricted") // the point of this class; callers fall back when it is refused
    private static MethodHandle bind(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    /** Space for the errno a call leaves behind; one per call (or per loop of calls) on the caller's thread. */
    static MemorySegment callState(Arena arena) {
        return arena.allocate(CALL_STATE);
    }

    private static int errno(MemorySegment callState) {
        return (int) ERRNO.get(callState, 0L);
    }

    /** A downcall that captures errno into {@code state}, with {@code arena} for its arguments. */
    @FunctionalInterface
    private interface Downcall {
        long invoke(Arena arena, MemorySegment state) throws Throwable;
    }

    /** Makes a downcall with a call state of its own: its result when not negative, else minus the errno. */
    private static long call(Downcall downcall) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = callState(arena);
            long r = downcall.invoke(arena, state);
            return r >= 0 ? r : -errno(state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int madvise(MemorySegment state, long address, long length, int advice) {
        try {
            int r = (int) MADVISE.invokeExact(state, MemorySegment.ofAddress(address), length, advice);
            return r == 0 ? 0 : -errno(state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int mincore(MemorySegment state, long address, long length, MemorySegment vec) {
        try {
            int r = (int) MINCORE.invokeExact(state, MemorySegment.ofAddress(address), length, vec);
            return r == 0 ? 0 : -errno(state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** statfs(2) of {@code path}: {f_type, f_bsize}, the first two words of struct statfs. */
    static long[] statfs(Path path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = callState(arena);
            MemorySegment buf = arena.allocate(STATFS_BYTES, 8);
            int r = (int) STATFS.invokeExact(state, arena.allocateFrom(path.toString()), buf);
            if (r != 0) {
                throw error("statfs", path, errno(state));
            }
            return new long[] {buf.get(JAVA_LONG, 0), buf.get(JAVA_LONG, 8)};
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /**
     * What O_DIRECT on an open file needs, as statx(2) says it (Linux 6.1 and later, on file systems that tell):
     * {memory alignment, offset and length alignment}, both 0 where the file takes no direct I/O; null where the
     * kernel, libc or the file system does not say, or statx fails (ENOSYS, or EPERM under an old seccomp filter).
     */
    static int[] directIoAlignment(int fd) {
        if (STATX == null) {
            return null;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = callState(arena);
            MemorySegment buf = arena.allocate(STATX_BYTES, 8);
            int r = (int) STATX.invokeExact(state, fd, arena.allocateFrom(""), AT_EMPTY_PATH, STATX_DIOALIGN, buf);
            if (r != 0 || (buf.get(JAVA_INT, 0) & STATX_DIOALIGN) == 0) {
                return null;
            }
            return new int[] {buf.get(JAVA_INT, 152), buf.get(JAVA_INT, 156)};
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int open(Path path, int flags) {
        return (int) call((arena, state) ->
                (int) OPEN.invokeExact(state, arena.allocateFrom(path.toString()), flags, 0));
    }

    /**
     * pread(2) into {@code dst}, passed as a segment so that FFM keeps its memory alive during the call: an arena
     * closed meanwhile fails to close instead of letting the kernel write into freed memory.
     */
    static long pread(MemorySegment state, int fd, MemorySegment dst, long offset) {
        try {
            long n = (long) PREAD.invokeExact(state, fd, dst, dst.byteSize(), offset);
            return n >= 0 ? n : -errno(state);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static long size(int fd) {
        return call((arena, state) -> (long) LSEEK.invokeExact(state, fd, 0L, SEEK_END));
    }

    static int close(int fd) {
        return (int) call((arena, state) -> (int) CLOSE.invokeExact(state, fd));
    }

    static int posixFadvise(int fd, long offset, long length, int advice) {
        try {
            return -(int) POSIX_FADVISE.invokeExact(fd, offset, length, advice);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int readahead(int fd, long offset, long length) {
        return (int) call((arena, state) -> (long) READAHEAD.invokeExact(state, fd, offset, length));
    }

    static int flock(int fd, int operation) {
        return (int) call((arena, state) -> (int) FLOCK.invokeExact(state, fd, operation));
    }

    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;

    /** An anonymous private read-write mapping; its address, or minus the errno. */
    static long mmapAnonymous(long length) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = callState(arena);
            MemorySegment r = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, length, PROT_READ_WRITE,
                    MAP_PRIVATE_ANONYMOUS, -1, 0L);
            return r.address() == -1L ? -errno(state) : r.address();
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    static int munmap(long address, long length) {
        return (int) call((arena, state) -> (int) MUNMAP.invokeExact(state, MemorySegment.ofAddress(address), length));
    }

    static int pageSize() {
        try {
            long size = (long) SYSCONF.invokeExact(SC_PAGESIZE);
            return size > 0 ? Math.toIntExact(size) : 4096;
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** strerror(3)'s text for an errno, e.g. "Invalid argument". */
    @SuppressWarnings("restricted") // strerror returns a NUL-terminated string of unknown length
    static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw unexpected(t);
        }
    }

    /** An IOException for a failed call on a path, of the NIO subclass that names the cause where there is one. */
    static IOException error(String call, Path path, int errno) {
        String reason = strerror(errno) + " (errno " + errno + ")";
        return switch (errno) {
            case ENOENT -> new NoSuchFileException(path.toString(), null, call + ": " + reason);
            case EACCES -> new AccessDeniedException(path.toString(), null, call + ": " + reason);
            default -> new IOException(call + " of " + path + " failed: " + reason);
        };
    }

    static IOException error(String call, int errno) {
        return new IOException(call + " failed: " + strerror(errno) + " (errno " + errno + ")");
    }

    // Downcalls throw nothing checked; anything else is a bug in a descriptor or the JDK.
    private static RuntimeException unexpected(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
