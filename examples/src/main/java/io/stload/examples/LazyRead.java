package io.stload.examples;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.Tensor;

/**
 * Lazy: open reads headers only; one tensor is then a zero-copy view of its file's mapping (valid until the
 * checkpoint is closed), and a slice reads only its own rows.
 */
final class LazyRead {
    private LazyRead() {
    }

    static String run(SampleCheckpoint checkpoint) {
        try (Checkpoint ckpt = Checkpoint.open(checkpoint.dir())) {
            long values = SampleCheckpoint.check(ckpt.viewTensor(SampleCheckpoint.NORM));
            Tensor rows = ckpt.slice(SampleCheckpoint.EMBED, "2:4,:");
            for (long i = 0; i < rows.byteSize() / Float.BYTES; i++) {
                float expected = SampleCheckpoint.expected(SampleCheckpoint.EMBED, 2 * 4 + i);
                if (rows.getFloat(i) != expected) {
                    throw new AssertionError("slice 2:4 [" + i + "] is " + rows.getFloat(i) + ", expected " + expected);
                }
            }
            return ckpt.tensors().size() + " tensors listed from headers, " + SampleCheckpoint.NORM + " read as a view ("
                    + values + " values checked), rows 2:4 of " + SampleCheckpoint.EMBED + " as a slice";
        }
    }
}
