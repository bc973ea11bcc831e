package io.stload.store;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Optional;

/**
 * What a reload did. Failures are results rather than exceptions, because the caller (an admin endpoint) must answer
 * its client while the old version keeps serving; each failure still carries its {@link ErrorKind} and the exception
 * behind it, so a missing path ({@link Outcome#LOAD_FAILED}, {@link ErrorKind#Io}) is told from a shape change
 * ({@link Outcome#LAYOUT_CHANGED}, {@link ErrorKind#Unsupported}) without reading the message.
 *
 * @param outcome        what happened
 * @param version        the version current when the reload returned: the new one, or the old one after a failure
 * @param kind           the failure's kind; empty when reloaded
 * @param cause          the exception behind the failure (a load's {@link io.stload.StloadException}, the flush
 *                       hook's own exception); empty when reloaded or when nothing was thrown
 * @param message        what went wrong, in a form a person can act on; empty when reloaded
 * @param mode           beside or in place, as asked
 * @param source         the source and version serving when the reload returned
 * @param delta          what was read and what carried over, and why ({@link ReloadDelta#NONE} when the reload
 *                       stopped before comparing)
 * @param loadSeconds    opening, comparing, planning and reading the new checkpoint (staging it, in place)
 * @param quiesceSeconds waiting for leases to close, running the flush hooks and, in place, writing the new bytes
 *                       over the old (0 without quiesce)
 */
public record ReloadResult(Outcome outcome, long version, Optional<ErrorKind> kind, Optional<Throwable> cause,
                           Optional<String> message, ReloadOptions.Mode mode, SourceVersion source, ReloadDelta delta,
                           double loadSeconds, double quiesceSeconds) {
    /** How a reload ended. */
    public enum Outcome {
        /** The new version is published. */
        RELOADED,
        /** Another reload was running; nothing was loaded. */
        ALREADY_RUNNING,
        /** The new version would not fit the memory budget beside the versions still held; nothing was loaded. */
        OVER_BUDGET,
        /** The checkpoint is missing, invalid or unreadable, or a read failed; the old version serves untouched. */
        LOAD_FAILED,
        /** The new checkpoint's tensor table (names, dtypes, shapes) differs from the serving one; nothing was read. */
        LAYOUT_CHANGED,
        /** Leases stayed open past the quiesce timeout; the new version was freed, the old one is untouched. */
        QUIESCE_TIMED_OUT,
        /** A flush hook threw; the new version was freed, the old one is untouched. */
        FLUSH_FAILED,
        /**
         * In place, a read or a copy failed after the serving memory began to be overwritten: the weights are
         * neither version, so the store refuses leases (with this failure) until a reload succeeds.
         */
        STORE_FAILED
    }

    /**
     * Checks that every component is given: what is absent is an empty {@link Optional}, never null.
     *
     * @throws StloadException {@link ErrorKind#Usage} if any component is null
     */
    public ReloadResult {
        if (outcome == null || kind == null || cause == null || message == null || mode == null || source == null
                || delta == null) {
            throw StloadException.usage("a reload's result needs its outcome, kind, cause, message, mode, source and "
                    + "delta, not null (Optional.empty() for what is absent)");
        }
    }

    /** {@return true when the new version was published} */
    public boolean reloaded() {
        return outcome == Outcome.RELOADED;
    }
}
