package io.stload.report;

import io.stload.checkpoint.TensorRef;

/** Hears of each tensor as it lands (for progress bars); called from loader threads, so keep it cheap. */
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
