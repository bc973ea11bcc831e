package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.Sizes;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.report.LoadReport;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Executes a {@link LoadPlan} into device memory: lays out every slice the plan's rank holds (the whole tensor
 * for a single rank or a replicated one) contiguous and row-major in one device allocation (256-byte
 * aligned), checks that it fits in the device's free memory before anything is copied, then streams the
 * plan's byte ranges of each file front to back through a {@link StagingRing}, with the plan's strategy per
 * file filling the windows on {@code threads} filler threads while the device copies the windows already
 * filled. A slice split on an inner dimension is a strided set of runs in the file: each window's whole runs
 * of it go to the device in one 2D copy.
 *
 * <pre>{@code
 * try (CopyEngine gpu = CudaCopyEngine.open(0, Pinning.HOST_ALLOC);
 *      DeviceWeights w = new DeviceLoader(gpu, RingOptions.DEFAULTS).execute(new Planner().plan(ckpt, options))) {
 *     long q = w.tensor("model.layers.0.self_attn.q_proj.weight").devicePointer();
 * }
 * }</pre>
 *
 * The plan's consumer order does not apply: a device load always streams files front to back, which is the
 * order the disk is fastest in and the only one a bounded ring can follow. The plan's slices are the tensors
 * this rank holds: a tensor the plan leaves out is neither read nor on the device.
 */
public final class DeviceLoader {
    private final CopyEngine engine;
    private final RingOptions ring;
    private final NativeAccess os;

    public DeviceLoader(CopyEngine engine, RingOptions ring, NativeAccess os) {
        this.engine = engine;
        this.ring = ring;
        this.os = os;
    }

    public DeviceLoader(CopyEngine engine, RingOptions ring) {
        this(engine, ring, NativeAccess.get());
    }

    public DeviceWeights execute(LoadPlan plan) {
        long start = System.nanoTime() - plan.planNanos();
        DeviceLayout layout = new DeviceLayout(plan.slices().values());
        checkFits(plan, layout.bytes());
        long base;
        try {
            base = engine.allocateDevice(Math.max(layout.bytes(), DeviceLayout.ALIGNMENT));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.OutOfMemory, null, e.getMessage(), e);
        }
        List<FileSource> sources = new ArrayList<>();
        try {
            Streamed s = stream(plan, layout, base, sources);
            Map<String, DeviceTensor> tensors = new LinkedHashMap<>();
            for (TensorSlice t : plan.slices().values()) {
                tensors.put(t.name(), new DeviceTensor(t.name(), t.local().dtype(), t.local().shape(),
                        base + layout.offset(t), t.byteSize()));
            }
            DeviceReport report = report(plan, sources, s, System.nanoTime() - start);
            closeAll(sources);
            return new DeviceWeights(engine, base, layout.bytes(), tensors, report);
        } catch (IOException | RuntimeException e) {
            closeQuietly(sources);
            engine.freeDevice(base);
            throw e instanceof StloadException se ? se
                    : new StloadException(ErrorKind.Io, null, "device load failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            closeQuietly(sources);
            engine.freeDevice(base);
            Thread.currentThread().interrupt();
            throw new StloadException(ErrorKind.Io, null, "device load interrupted");
        }
    }

    /** Fails before any allocation or copy when the rank's slices cannot fit. */
    private void checkFits(LoadPlan plan, long needed) {
        long free;
        try {
            free = engine.freeDeviceBytes();
        } catch (IOException e) {
            throw new StloadException(ErrorKind.NoDevice, null, e.getMessage(), e);
        }
        if (needed > free) {
            int worldSize = plan.partitioning().worldSize();
            String who = worldSize == 1 ? "the checkpoint" : "rank " + plan.partitioning().rank() + " of " + worldSize;
            throw new StloadException(ErrorKind.OutOfMemory, null, who + " needs " + Sizes.human(needed)
                    + " of device memory and " + engine.name() + " has " + Sizes.human(free) + " free");
        }
    }

    private record Streamed(double readSeconds, double waitSeconds, int threads, double h2dSeconds,
                            double streamSeconds, long bytesRead) {
    }

    private Streamed stream(LoadPlan plan, DeviceLayout layout, long base, List<FileSource> sources)
            throws IOException, InterruptedException {
        List<StagingChunks.Chunk> chunks = new ArrayList<>();
        for (FilePlan f : plan.files()) {
            FileSource source = open(f, plan.options().thresholds());
            sources.add(source);
            List<TensorSlice> slices = plan.slices().values().stream()
                    .filter(s -> s.tensor().file() == f.file()).toList();
            chunks.addAll(StagingChunks.of(source, f.reads(), slices, layout, ring.windowBytes()));
        }
        int threads = Math.max(1, Math.min(plan.options().threads(), chunks.size()));
        LongAdder readNanos = new LongAdder();
        LongAdder waitNanos = new LongAdder();
        LongAdder bytesRead = new LongAdder();
        long begin = System.nanoTime();
        try (StagingRing staging = new StagingRing(engine, ring)) {
            AtomicInteger next = new AtomicInteger();
            ExecutorService fillers = Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "stload-stage");
                t.setDaemon(true);
                return t;
            });
            try {
                List<Future<Void>> running = new ArrayList<>();
                for (int i = 0; i < threads; i++) {
                    running.add(fillers.submit(() -> {
                        int k;
                        while ((k = next.getAndIncrement()) < chunks.size()) {
                            fillOne(staging, chunks.get(k), base, readNanos, waitNanos);
                            bytesRead.add(chunks.get(k).length());
                        }
                        return null;
                    }));
                }
                awaitAll(running, next, chunks.size());
                staging.drain();
            } finally {
                // Every filler must be out of its window before the ring frees the windows.
                fillers.shutdownNow();
                fillers.awaitTermination(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
            }
            return new Streamed(readNanos.sum() / 1e9, waitNanos.sum() / 1e9, threads, staging.copySeconds(),
                    (System.nanoTime() - begin) / 1e9, bytesRead.sum());
        }
    }

    private static void fillOne(StagingRing staging, StagingChunks.Chunk c, long base, LongAdder readNanos,
                                LongAdder waitNanos) throws IOException, InterruptedException {
        long asked = System.nanoTime();
        StagingRing.Window w = staging.acquire();
        long got = System.nanoTime();
        waitNanos.add(got - asked);
        try {
            c.source().fill(c.offset(), c.length(), w.buffer());
        } catch (IOException | RuntimeException e) {
            staging.abandon(w, e);
            throw e;
        }
        readNanos.add(System.nanoTime() - got);
        List<CopyEngine.Copy> copies = new ArrayList<>(c.pieces().size());
        for (StagingChunks.Piece p : c.pieces()) {
            copies.add(new CopyEngine.Copy(w.buffer().asSlice(p.windowOffset(), p.span()), base + p.deviceOffset(),
                    p.width(), p.rows(), p.pitch()));
        }
        staging.submit(w, copies);
    }

    private static void awaitAll(List<Future<Void>> running, AtomicInteger next, int total)
            throws IOException, InterruptedException {
        for (Future<Void> f : running) {
            try {
                f.get();
            } catch (ExecutionException e) {
                next.set(total); // stop the other fillers
                Throwable cause = e.getCause();
                if (cause instanceof IOException io) {
                    throw io;
                }
                if (cause instanceof RuntimeException re) {
                    throw re;
                }
                throw new IOException(cause);
            }
        }
    }

    private FileSource open(FilePlan f, Thresholds t) throws IOException {
        Header h = f.file();
        return switch (f.strategy()) {
            case MMAP -> new MappedSource(h, f.reads(), os, 0, 0);
            case PREFETCH -> new MappedSource(h, f.reads(), os, t.prefetchWindow(), t.prefetchAhead());
            case DIRECT -> new DirectSource(h, os);
            case S3 -> throw new StloadException(ErrorKind.Unsupported, null,
                    "loading from object storage into GPU memory is not supported yet; load into host memory");
            case AUTO -> throw new IllegalArgumentException("a plan never leaves a file on auto");
        };
    }

    private DeviceReport report(LoadPlan plan, List<FileSource> sources, Streamed s, long wallNanos) {
        List<LoadReport.FileReport> files = new ArrayList<>();
        for (int i = 0; i < plan.files().size(); i++) {
            files.add(LoadReport.FileReport.of(plan.files().get(i), sources.get(i).note()));
        }
        Map<String, Double> phases = new LinkedHashMap<>();
        phases.put("plan", plan.planNanos() / 1e9);
        phases.put("read", s.readSeconds());
        phases.put("h2d", s.h2dSeconds());
        phases.put("wait", s.waitSeconds());
        LoadReport load = new LoadReport(files, plan.slices().size(), plan.bytes(), wallNanos / 1e9,
                phases, s.bytesRead(), plan.partitioning().rank(), plan.partitioning().worldSize(),
                new LoadReport.Latency(0, 0, 0));
        return new DeviceReport(load, engine.name(), s.readSeconds(), s.threads(), s.h2dSeconds(), s.streamSeconds());
    }

    private static void closeAll(List<FileSource> sources) throws IOException {
        for (FileSource s : sources) {
            s.close();
        }
    }

    private static void closeQuietly(List<FileSource> sources) {
        for (FileSource s : sources) {
            try {
                s.close();
            } catch (IOException | RuntimeException ignored) {
                // Already failing; the first error is the one worth reporting.
            }
        }
    }
}
