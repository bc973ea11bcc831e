package io.stload.examples;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.Slice;
import io.stload.format.Tensor;

/**
 * Typed access: a row of a lazy view decoded into a float[], an element by its row and column, and a stepped slice
 * built without strings (every other column of rows 2 to 6), each value checked.
 */
final class TypedRead {
    private TypedRead() {
    }

    static String run(SampleCheckpoint checkpoint) {
        try (Checkpoint ckpt = Checkpoint.open(checkpoint.dir())) {
            Tensor embed = ckpt.viewTensor(SampleCheckpoint.EMBED);          // 8 x 4, a view of the mapping
            long cols = embed.shape().dim(1);
            float[] row = new float[(int) cols];
            embed.row(5).toFloats(row, 0);
            for (int j = 0; j < cols; j++) {
                float expected = SampleCheckpoint.expected(SampleCheckpoint.EMBED, 5 * cols + j);
                if (row[j] != expected || embed.getFloat(5, j) != expected) {
                    throw new AssertionError("row 5 [" + j + "] is " + row[j] + ", expected " + expected);
                }
            }
            Tensor part = ckpt.slice(SampleCheckpoint.EMBED, Slice.of(Slice.range(2, 6), Slice.all().step(2)));
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 2; j++) {
                    float expected = SampleCheckpoint.expected(SampleCheckpoint.EMBED, (2 + i) * cols + 2 * j);
                    if (part.getFloat(i, j) != expected) {
                        throw new AssertionError("slice [2:6, ::2] (" + i + ", " + j + ") is " + part.getFloat(i, j));
                    }
                }
            }
            return "row 5 of " + embed.shape() + " decoded into a float[], slice [2:6, ::2] is " + part.shape();
        }
    }
}
