package io.stload.examples;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.Convert;
import io.stload.format.DType;
import java.lang.foreign.MemorySegment;

/** Conversion: F32 values narrowed to BF16 (round to nearest even) and widened back; these are exact in BF16. */
final class ConvertRoundTrip {
    private ConvertRoundTrip() {
    }

    static String run(SampleCheckpoint checkpoint) {
        try (Checkpoint ckpt = Checkpoint.open(checkpoint.dir())) {
            float[] values = Convert.toF32(ckpt.copy(SampleCheckpoint.EMBED));
            byte[] bf16 = Convert.fromF32(DType.BF16, values);
            float[] back = Convert.toF32(DType.BF16, MemorySegment.ofArray(bf16));
            for (int i = 0; i < back.length; i++) {
                if (back[i] != SampleCheckpoint.expected(SampleCheckpoint.EMBED, i)) {
                    throw new AssertionError("BF16 round trip [" + i + "] is " + back[i]);
                }
            }
            return back.length + " values F32 -> BF16 (" + bf16.length + " bytes) -> F32 unchanged";
        }
    }
}
