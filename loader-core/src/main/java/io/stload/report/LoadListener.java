package io.stload.report;

import io.stload.checkpoint.TensorRef;

/**
 * Hears of each tensor as it lands (for progress bars).
 *
 * <p>Threads: called on the engine's consumer threads, several at once (one call per tensor, after the destination
 * has taken it), so it must be thread-safe and cheap: a consumer thread waits for it. Failures: a
 * {@link RuntimeException} it throws ends the load with {@link io.stload.ErrorKind#Callback}, the exception as the
 * cause and no file named, as a consumer's does.
 */
@FunctionalInterface
public interface LoadListener {
    /** Hears nothing. */
    LoadListener NONE = (t, bytes) -> {
    };

    /**
     * A tensor (this rank's slice of it) is in place.
     *
     * @param tensor the tensor
     * @param bytes  the bytes that landed for it
     */
    void materialized(TensorRef tensor, long bytes);
}
