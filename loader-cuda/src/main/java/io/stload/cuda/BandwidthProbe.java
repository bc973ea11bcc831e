package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
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

    /**
     * GB/s (decimal) of each timed repetition of copying {@code bytes}.
     *
     * @param device the device's name, as {@link CopyEngine#name()} gives it
     * @param bytes  bytes per copy
     * @param gbps   GB/s of each timed copy, in order
     */
    public record Result(String device, long bytes, double[] gbps) {
        /**
         * Checks that the device and the figures are given.
         *
         * @throws StloadException {@link ErrorKind#Usage} if {@code device} or {@code gbps} is null
         */
        public Result {
            if (device == null || gbps == null) {
                throw StloadException.usage("a bandwidth result names its device and gives its GB/s, not null");
            }
        }

        /** {@return the fastest repetition's GB/s, 0 when there was none} */
        public double best() {
            return Arrays.stream(gbps).max().orElse(0);
        }

        /** {@return the median repetition's GB/s, 0 when there was none} */
        public double median() {
            double[] s = gbps.clone();
            Arrays.sort(s);
            return s.length == 0 ? 0 : s[s.length / 2];
        }
    }

    private BandwidthProbe() {
    }

    /**
     * One untimed warm-up copy, then {@code reps} timed ones; frees everything it allocated. A failed copy
     * (reported asynchronously, by its event) or allocation is an {@link ErrorKind#Io} error.
     *
     * @param engine the device to measure; not closed
     * @param bytes  bytes per copy
     * @param reps   the number of timed copies
     * @return the GB/s of each timed copy
     * @throws StloadException {@link ErrorKind#OutOfMemory} when the device or pinned memory cannot be allocated,
     *                         {@link ErrorKind#Io} when a copy fails; {@link ErrorKind#Usage} if {@code engine}
     *                         is null
     * @throws InterruptedException if interrupted while waiting for a copy; everything is freed first
     */
    public static Result run(CopyEngine engine, long bytes, int reps) throws InterruptedException {
        StloadException.requireNonNull(engine, "bandwidth is measured on a copy engine, not null");
        List<MemorySegment> buffers = new ArrayList<>();
        long device;
        try {
            device = engine.allocateDevice(bytes);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, null, e.getMessage(), e);
        }
        StloadException failure = null;
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
        } catch (IOException e) {
            failure = new StloadException(ErrorKind.Io, null, e.getMessage(), e);
            throw failure;
        } catch (StloadException e) {
            failure = e;
            throw e;
        } finally {
            free(engine, buffers, device, failure);
        }
    }

    /** Frees every buffer even when one free fails; a free's failure is attached to the probe's, if any. */
    private static void free(CopyEngine engine, List<MemorySegment> buffers, long device, StloadException failure) {
        RuntimeException first = null;
        List<Runnable> frees = new ArrayList<>();
        buffers.forEach(b -> frees.add(() -> engine.freeStaging(b)));
        frees.add(() -> engine.freeDevice(device));
        for (Runnable free : frees) {
            try {
                free.run();
            } catch (RuntimeException e) {
                if (failure != null) {
                    failure.addSuppressed(e);
                } else if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
