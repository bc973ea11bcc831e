package io.stload.examples;

import io.stload.checkpoint.Checkpoint;
import io.stload.report.LoadListener;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.report.LoadReport;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/** Streaming: each tensor is handed over as it lands, valid during the call only; the loader keeps nothing. */
final class StreamLoad {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private StreamLoad() {
    }

    static String run(SampleCheckpoint checkpoint) {
        try (Checkpoint ckpt = Checkpoint.open(checkpoint.dir())) {
            LoadPlan plan = new Planner().plan(ckpt, LoadOptions.DEFAULTS);
            AtomicLong values = new AtomicLong();
            LoadReport report = new Loader().stream(plan, (slice, bytes) -> {
                for (long i = 0; i < bytes.byteSize() / Float.BYTES; i++) {
                    float got = bytes.get(F32, i * Float.BYTES);
                    if (got != SampleCheckpoint.expected(slice.name(), i)) {
                        throw new AssertionError(slice.name() + "[" + i + "] is " + got);
                    }
                    values.incrementAndGet();
                }
            }, 16L << 20, LoadListener.NONE);
            return report.tensors() + " tensors streamed, " + values.get() + " values checked";
        }
    }
}
