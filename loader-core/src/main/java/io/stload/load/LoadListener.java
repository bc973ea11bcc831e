package io.stload.load;

import io.stload.checkpoint.TensorRef;

/** Hears of each tensor as it lands (for progress bars); called from loader threads, so keep it cheap. */
@FunctionalInterface
public interface LoadListener {
    LoadListener NONE = (t, bytes) -> {
    };

    void materialized(TensorRef tensor, long bytes);
}
