package io.stload.cuda;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Peak host-to-device bandwidth from pinned memory: the same kind of copies the loader makes (pinned source,
 * one stream, device-timed), without any reading, so a load's GB/s can be compared with it in the same run.
 */
public final class BandwidthProbe {

    /** GB/s (decimal) of each timed repetition of copying {@code bytes}. */
    public record Result(String device, long bytes, double[] gbps) {
        public double best() {
            return Arrays.stream(gbps).max().orElse(0);
        }

        public double median() {
            double[] s = gbps.clone();
            Arrays.sort(s);
            return s.length == 0 ? 0 : s[s.length / 2];
        }
    }

    private BandwidthProbe() {
    }

    /** One untimed warm-up copy, then {@code reps} timed ones; frees everything it allocated. */
    public static Result run(CopyEngine engine, long bytes, int reps) throws IOException, InterruptedException {
        List<MemorySegment> buffers = new ArrayList<>();
        long device = engine.allocateDevice(bytes);
        try {
            List<CopyEngine.Copy> copies = new ArrayList<>();
            for (long off = 0; off < bytes; off += RingOptions.MAX_WINDOW_BYTES) {
                MemorySegment b = engine.allocateStaging(Math.min(RingOptions.MAX_WINDOW_BYTES, bytes - off));
                buffers.add(b);
                copies.add(new CopyEngine.Copy(b, device + off));
            }
            double[] gbps = new double[reps];
            for (int i = -1; i < reps; i++) {
                try (CopyEvent e = engine.copyToDevice(copies)) {
                    e.await();
                    if (i >= 0) {
                        gbps[i] = e.copySeconds() <= 0 ? 0 : bytes / 1e9 / e.copySeconds();
                    }
                }
            }
            return new Result(engine.name(), bytes, gbps);
        } finally {
            buffers.forEach(engine::freeStaging);
            engine.freeDevice(device);
        }
    }
}
