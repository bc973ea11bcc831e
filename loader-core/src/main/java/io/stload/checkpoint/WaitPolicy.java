package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * How long, and how, to wait for a peer (a download, or another rank's check): the bound, the clock and
 * sleeper (injected so tests drive time instead of sleeping), and where the progress lines go.
 *
 * @param timeout   give up after this long ({@link io.stload.ErrorKind#WaitTimeout})
 * @param nanoTime  a monotonic clock
 * @param sleeper   sleeps for the given nanoseconds
 * @param log       one line at the start and about every {@link #LOG_EVERY} of a wait
 */
public record WaitPolicy(Duration timeout, LongSupplier nanoTime, Sleeper sleeper, Consumer<String> log) {
    /** How long a wait lasts unless told otherwise: ten minutes. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(10);
    /** How often a long wait logs a progress line. */
    public static final Duration LOG_EVERY = Duration.ofSeconds(10);
    static final Duration FIRST_STEP = Duration.ofMillis(100);
    static final Duration MAX_STEP = Duration.ofSeconds(2);

    private static final System.Logger LOG = System.getLogger("io.stload.checkpoint");

    /**
     * Checks that every component is given.
     *
     * @throws StloadException {@link ErrorKind#Usage} if any component is null
     */
    public WaitPolicy {
        if (timeout == null || nanoTime == null || sleeper == null || log == null) {
            throw StloadException.usage("a wait policy needs its timeout, clock, sleeper and log, not null");
        }
    }

    /**
     * Waits in real time, logging through {@link System.Logger} {@code io.stload.checkpoint} at INFO.
     *
     * @param timeout give up after this long
     * @return the policy
     * @throws StloadException {@link ErrorKind#Usage} if {@code timeout} is null
     */
    public static WaitPolicy of(Duration timeout) {
        return new WaitPolicy(timeout, System::nanoTime, nanos -> Thread.sleep(Duration.ofNanos(nanos)),
                line -> LOG.log(System.Logger.Level.INFO, line));
    }

    /**
     * Returns a copy whose progress lines go elsewhere.
     *
     * @param to receives each line
     * @return the changed copy
     * @throws StloadException {@link ErrorKind#Usage} if {@code to} is null
     */
    public WaitPolicy withLog(Consumer<String> to) {
        return new WaitPolicy(timeout, nanoTime, sleeper, to);
    }

    /** Sleeps between polls; tests pass one that advances a fake clock. */
    @FunctionalInterface
    public interface Sleeper {
        /**
         * Sleeps.
         *
         * @param nanos how long
         * @throws InterruptedException if the waiting thread is interrupted
         */
        void sleep(long nanos) throws InterruptedException;
    }

    /** Exponential backoff from {@link #FIRST_STEP} to {@link #MAX_STEP}. */
    static long nextStep(long stepNanos) {
        return Math.min(stepNanos * 2, MAX_STEP.toNanos());
    }
}
