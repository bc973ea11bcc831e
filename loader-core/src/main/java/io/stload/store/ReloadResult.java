package io.stload.store;

/**
 * What a reload did. Failures are results rather than exceptions, because the caller (an admin endpoint)
 * must answer its client while the old version keeps serving.
 *
 * @param outcome        what happened
 * @param version        the version current when the reload returned: the new one, or the old one after a failure
 * @param loadSeconds    opening, planning and loading the new checkpoint (0 if it was never loaded)
 * @param quiesceSeconds waiting for leases to close plus running the flush hooks (0 without quiesce)
 * @param message        what went wrong, in a form a person can act on; null when reloaded
 */
public record ReloadResult(Outcome outcome, long version, double loadSeconds, double quiesceSeconds, String message) {
    /** How a reload ended. */
    public enum Outcome {
        /** The new version is published. */
        RELOADED,
        /** Another reload was running; nothing was loaded. */
        ALREADY_RUNNING,
        /** The new version would not fit the memory budget beside the versions still held; nothing was loaded. */
        OVER_BUDGET,
        /** The checkpoint is missing, invalid, unreadable, or its tensor table differs from the serving one. */
        LOAD_FAILED,
        /** Leases stayed open past the quiesce timeout; the new version was freed. */
        QUIESCE_TIMED_OUT,
        /** A flush hook threw; the new version was freed. */
        FLUSH_FAILED
    }

    /** {@return true when the new version was published} */
    public boolean reloaded() {
        return outcome == Outcome.RELOADED;
    }
}
