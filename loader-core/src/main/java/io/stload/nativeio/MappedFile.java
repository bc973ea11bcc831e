package io.stload.nativeio;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The one place a checkpoint file is mapped, and the one place a fault of a mapping becomes an error. A file is
 * mapped whole and read-only, and only if it is still the file its header was read from ({@link FileIdentity}).
 * Should the file be truncated under the mapping, a read of a lost page raises SIGBUS, which the JVM turns into an
 * {@link InternalError} for Java's own reads and copies of the mapping (but not for native code or intrinsics given
 * its address, which crash): so only the loader's own copies read a mapping, inside {@link #reading}, and a
 * truncated file becomes one {@link ErrorKind#Io} error naming it.
 *
 * <p>The JVM does not raise that error where the fault happened: compiled code reading a mapping (an element read, a
 * copy) runs on, and the error is thrown at the thread's next safepoint check, which may come after the code that
 * could have caught it. A call into the VM ends with such a check, so a guarded read ends with one
 * ({@link #raisePendingFault}): the error then surfaces inside the guard.
 */
public final class MappedFile {
    /** Makes every mapping ({@link #uninterrupted}); its one thread, never interrupted, ends when idle a second. */
    private static final ExecutorService MAPPER = mapper();

    /** What {@link #raisePendingFault} asks the VM about; never locked. */
    private static final Object NOTHING = new Object();

    private MappedFile() {
    }

    private static ExecutorService mapper() {
        ThreadPoolExecutor mapper = new ThreadPoolExecutor(1, 1, 1, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                Thread.ofPlatform().name("stload-map").daemon().factory());
        mapper.allowCoreThreadTimeOut(true);
        return mapper;
    }

    /**
     * Maps {@code file} whole, read-only, into {@code arena}.
     *
     * @param file     the file
     * @param expected the file its header was read from
     * @param arena    owns the mapping: closing it unmaps the file. A shared arena's mapping is made where no interrupt
     *                 can lose it ({@link #uninterrupted})
     * @return the mapping; empty for an empty file
     * @throws StloadException {@link ErrorKind#Io} if the file cannot be mapped, or is no longer the expected one;
     *                         {@link ErrorKind#Usage} if the arena is closed or confined to another thread
     */
    public static MemorySegment map(Path file, FileIdentity expected, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            // Checked once open: a file replaced after this is not the one mapped, and the end of the load checks again.
            expected.requireSame(file);
            if (ch.size() != expected.size()) {
                throw changed(file, "changed size from " + expected.size() + " to " + ch.size() + " bytes");
            }
            return expected.size() == 0 ? MemorySegment.NULL : uninterrupted(ch, expected.size(), arena).asReadOnly();
        } catch (IOException e) {
            throw FileChecks.failure(file, "cannot map", e);
        } catch (IllegalStateException | WrongThreadException e) {
            throw StloadException.usage("the arena cannot own a mapping of " + file + ": " + e.getMessage());
        }
    }

    /**
     * {@code ch} mapped on {@link #MAPPER}, where no interrupt reaches the call: an interrupt of the thread in
     * {@link FileChannel#map} makes it throw even when the mapping is made, and that mapping, which no arena then owns,
     * stays until the JVM exits (an engine interrupts its readers when a load fails; a caller may interrupt its own
     * thread). The caller waits through interrupts, which it keeps, and the arena owns what was mapped. An arena
     * confined to the caller takes a mapping made on the caller's thread only, so that one is made here, where an
     * interrupt part way through the call still loses it: the loader's own arenas are shared.
     */
    private static MemorySegment uninterrupted(FileChannel ch, long size, Arena arena) throws IOException {
        Future<MemorySegment> mapping = MAPPER.submit(() -> ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena));
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return mapping.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof WrongThreadException) {
                        return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                    }
                    switch (e.getCause()) {
                        case IOException io -> throw io;
                        case RuntimeException r -> throw r;
                        case Error error -> throw error;
                        default -> throw new IOException(e.getCause());
                    }
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Reads a mapping: the body of {@link #reading}. */
    @FunctionalInterface
    public interface Access<X extends Exception> {
        /**
         * Reads the mapping.
         *
         * @throws X the access's own failure
         */
        void run() throws X;
    }

    /**
     * Runs {@code access}, which reads {@code file}'s mapping with Java's reads and copies only, turning a fault of
     * the mapping into the error of a truncated file.
     *
     * @param file   the mapped file
     * @param access the reads
     * @param <X>    what the access itself may throw
     * @throws X the access's own failure
     * @throws StloadException {@link ErrorKind#Io} when the file was truncated (or its disk failed) under the mapping
     */
    public static <X extends Exception> void reading(Path file, Access<X> access) throws X {
        try {
            access.run();
            raisePendingFault();
        } catch (InternalError e) {
            throw truncated(file, e);
        }
    }

    /**
     * Raises, here, the error of a fault of a mapping that a read before it on this thread met but the JVM has not yet
     * thrown: a call through JNI ({@link Thread#holdsLock}, which no JIT compiles away) returns through the VM's
     * safepoint check, where a pending asynchronous error is thrown. End every guarded read of a mapping with it,
     * inside the guard.
     *
     * @throws InternalError the pending fault's, if there is one
     */
    public static void raisePendingFault() {
        if (Thread.holdsLock(NOTHING)) {
            throw new IllegalStateException("nothing ever locks this object");
        }
    }

    /**
     * The error of a read of {@code file}'s mapping that faulted: for code that reads a mapping on a hot path (a
     * typed accessor) and cannot afford a lambda per read, but catches {@link InternalError} around its reads itself.
     *
     * @param file  the mapped file
     * @param fault what the JVM threw for the read (its translation of SIGBUS)
     * @return the error to throw: {@link ErrorKind#Io}, naming the file, the fault as its cause
     */
    public static StloadException truncated(Path file, InternalError fault) {
        // The JVM's translation of SIGBUS: the file was truncated or its disk failed under the mapping.
        return new StloadException(ErrorKind.Io, file, "file was truncated or became unreadable while mapped ("
                + fault.getMessage() + ")", fault);
    }

    /** A file that is no longer the one its header was read from. */
    static StloadException changed(Path file, String what) {
        return new StloadException(ErrorKind.Io, file, what + " after its header was read; load it again once it"
                + " stops changing");
    }
}
