package io.stload.nativeio;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
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
    /** Makes every mapping ({@link #map}); nothing interrupts their threads. */
    private static final ExecutorService MAPPERS = mappers();

    /** What {@link #raisePendingFault} asks the VM about; never locked. */
    private static final Object NOTHING = new Object();

    private MappedFile() {
    }

    /**
     * A thread for each map under way, kept a second once idle: one stalled map (a hung network mount) holds up no
     * other.
     */
    private static ExecutorService mappers() {
        return new ThreadPoolExecutor(0, Integer.MAX_VALUE, 1, TimeUnit.SECONDS, new SynchronousQueue<>(),
                Thread.ofPlatform().name("stload-map-", 0).daemon().inheritInheritableThreadLocals(false).factory());
    }

    /**
     * Maps {@code file} whole, read-only, into {@code arena}, on a thread no interrupt reaches: an interrupt of the
     * thread in {@link FileChannel#map} makes it throw even when the mapping is made, and that mapping, which no arena
     * then owns, stays until the JVM exits (an engine interrupts its readers when a load fails; a caller may interrupt
     * its own thread). A caller interrupted while it waits stops waiting (its interrupt kept, the error {@code Io}); the
     * map goes on, and the arena owns what it makes, or unmaps it at once if closed meanwhile. An arena confined to the
     * caller takes a mapping made on the caller's thread only, so that one is made there, where an interrupt part way
     * through the call still loses it: the loader's own arenas are shared.
     *
     * @param file     the file
     * @param expected the file its header was read from
     * @param arena    owns the mapping: closing it unmaps the file
     * @return the mapping; empty for an empty file
     * @throws StloadException {@link ErrorKind#Io} if the file cannot be mapped, or is no longer the expected one, or
     *                         the caller was interrupted; {@link ErrorKind#Usage} if the arena is closed or confined to
     *                         another thread
     */
    public static MemorySegment map(Path file, FileIdentity expected, Arena arena) {
        if (Thread.currentThread().isInterrupted()) {
            throw interrupted(file);
        }
        Future<MemorySegment> mapping;
        try {
            mapping = MAPPERS.submit(() -> mapHere(file, expected, arena));
        } catch (OutOfMemoryError | RejectedExecutionException e) {
            return mapHere(file, expected, arena); // no thread to be had: mapped here, as before there were any
        }
        try {
            return mapping.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw interrupted(file);
        } catch (ExecutionException e) {
            switch (e.getCause()) {
                case StloadException confined when confined.getCause() instanceof WrongThreadException -> {
                    return mapHere(file, expected, arena);
                }
                case RuntimeException r -> throw r;
                case Error error -> throw error;
                default -> throw new IllegalStateException("mapping " + file, e.getCause());
            }
        }
    }

    /** The error of a map its caller was interrupted before or while waiting for: the interrupt's, as the JDK's. */
    private static StloadException interrupted(Path file) {
        return FileChecks.failure(file, "cannot map", new ClosedByInterruptException());
    }

    private static MemorySegment mapHere(Path file, FileIdentity expected, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            // Checked once open: a file replaced after this is not the one mapped, and the end of the load checks again.
            expected.requireSame(file);
            if (ch.size() != expected.size()) {
                throw changed(file, "changed size from " + expected.size() + " to " + ch.size() + " bytes");
            }
            return expected.size() == 0 ? MemorySegment.NULL
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, expected.size(), arena).asReadOnly();
        } catch (IOException e) {
            throw FileChecks.failure(file, "cannot map", e);
        } catch (IllegalStateException | WrongThreadException e) {
            throw new StloadException(ErrorKind.Usage, null, "the arena cannot own a mapping of " + file + ": "
                    + e.getMessage(), e);
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
