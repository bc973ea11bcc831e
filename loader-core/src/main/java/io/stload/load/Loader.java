package io.stload.load;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.format.Tensor;
import io.stload.io.IoStats;
import io.stload.io.Readers;
import io.stload.io.TensorReader;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadReport;
import io.stload.sink.FileDestination;
import io.stload.sink.HostSink;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.HdrHistogram.ConcurrentHistogram;

/**
 * The load engine's front door: plans a checkpoint (strategy per file, with reasons; for a tensor-parallel
 * rank, its slice of every tensor it holds and the byte ranges holding them), then executes the plan,
 * materializing every tensor (the rank's slice of it) in host memory in the order the consumer asks for.
 *
 * <pre>{@code
 * try (LoadedWeights w = Loader.load(Path.of("/models/llama"), LoadOptions.DEFAULTS)) {
 *     Tensor q = w.tensor("model.layers.0.self_attn.q_proj.weight");
 * }
 * }</pre>
 *
 * Memory: the tensors themselves (the caller's, freed by closing the result) plus nothing proportional to
 * the checkpoint: prefetch uses the page cache as its buffer, bounded by {@code prefetchAhead}; direct reads
 * land in the destination; mmap copies from the mapping.
 */
public final class Loader {
    private final NativeAccess os;

    public Loader(NativeAccess os) {
        this.os = os;
    }

    public Loader() {
        this(NativeAccess.get());
    }

    public static LoadedWeights load(Path checkpoint, LoadOptions options) {
        Loader loader = new Loader();
        return loader.execute(new Planner().plan(Checkpoint.open(checkpoint), options), LoadListener.NONE);
    }

    /** Executes a plan made by {@link Planner}. */
    public LoadedWeights execute(LoadPlan plan, LoadListener listener) {
        long start = System.nanoTime() - plan.planNanos();
        IoStats stats = new IoStats();
        ConcurrentHistogram latencyMicros = new ConcurrentHistogram(3);
        HostSink sink = new HostSink(os);
        Map<Header, TensorReader> readerOf = new IdentityHashMap<>();
        List<TensorReader> readers = new ArrayList<>();
        ExecutorService io = Executors.newCachedThreadPool(daemon("stload-io"));
        ExecutorService consumers = Executors.newFixedThreadPool(plan.options().threads(), daemon("stload-copy"));
        try {
            Map<Header, FileDestination> destinations = allocate(plan, sink);
            for (Map.Entry<LoadStrategy, List<FilePlan>> group : byStrategy(plan).entrySet()) {
                List<Header> files = group.getValue().stream().map(FilePlan::file).toList();
                List<TensorSlice> slices = plan.order().stream().filter(t -> files.contains(t.file()))
                        .map(plan::slice).toList();
                TensorReader reader = Readers.create(group.getKey(), os, group.getValue(), destinations, slices,
                        plan.options(), plan.checkpoint(), stats);
                readers.add(reader);
                files.forEach(h -> readerOf.put(h, reader));
            }
            readers.forEach(r -> r.start(io));
            consume(plan, readerOf, consumers, latencyMicros, listener);
            // A window lying wholly in a read-through gap has no consumer waiting for it: let such reads
            // finish, so that the report counts them and no read outlives the file handles closed below.
            io.shutdown();
            io.awaitTermination(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (TensorSlice s : plan.slices().values()) {
                tensors.put(s.name(), new Tensor(s.local(), destinations.get(s.tensor().file()).of(s)));
            }
            LoadReport report = report(plan, readers, stats, latencyMicros, System.nanoTime() - start);
            closeAll(readers);
            return new LoadedWeights(sink, tensors, report);
        } catch (IOException | RuntimeException e) {
            closeQuietly(readers);
            sink.close();
            throw asLoadError(e);
        } catch (InterruptedException e) {
            closeQuietly(readers);
            sink.close();
            Thread.currentThread().interrupt();
            throw new StloadException(ErrorKind.Io, null, "load interrupted");
        } finally {
            consumers.shutdownNow();
            io.shutdownNow();
        }
    }

    /**
     * Whole tensors get memory mirroring their files (direct reads land in place); a rank holding slices, or
     * only some experts, gets them packed, each contiguous, so it holds only its own bytes.
     */
    private Map<Header, FileDestination> allocate(LoadPlan plan, HostSink sink) {
        boolean partial = plan.isPartial();
        Map<Header, FileDestination> destinations = new IdentityHashMap<>();
        for (FilePlan f : plan.files()) {
            Header h = f.file();
            destinations.put(h, partial
                    ? sink.allocatePacked(h, RankSlices.inFile(h, plan.slices()))
                    : sink.allocateMirror(h, os.pageSize()));
        }
        return destinations;
    }

    private static Map<LoadStrategy, List<FilePlan>> byStrategy(LoadPlan plan) {
        Map<LoadStrategy, List<FilePlan>> groups = new EnumMap<>(LoadStrategy.class);
        for (FilePlan f : plan.files()) {
            groups.computeIfAbsent(f.strategy(), s -> new ArrayList<>()).add(f);
        }
        return groups;
    }

    /** Consumer threads take tensors in plan order and wait for each rank-local slice to be materialized. */
    private static void consume(LoadPlan plan, Map<Header, TensorReader> readerOf, ExecutorService consumers,
                                ConcurrentHistogram latencyMicros, LoadListener listener)
            throws IOException, InterruptedException {
        List<TensorRef> order = plan.order();
        AtomicInteger next = new AtomicInteger();
        List<Future<Void>> running = new ArrayList<>();
        for (int i = 0; i < plan.options().threads(); i++) {
            running.add(consumers.submit(() -> {
                int k;
                while ((k = next.getAndIncrement()) < order.size()) {
                    TensorRef t = order.get(k);
                    TensorSlice s = plan.slice(t);
                    long begin = System.nanoTime();
                    readerOf.get(t.file()).materialize(s);
                    latencyMicros.recordValue(Math.max(1, (System.nanoTime() - begin) / 1000));
                    listener.materialized(t, s.byteSize());
                }
                return null;
            }));
        }
        for (Future<Void> f : running) {
            try {
                f.get();
            } catch (java.util.concurrent.ExecutionException e) {
                next.set(order.size()); // stop the other consumers
                Throwable cause = e.getCause();
                if (cause instanceof IOException io) {
                    throw io;
                }
                if (cause instanceof UncheckedIOException uio) {
                    throw uio.getCause();
                }
                if (cause instanceof RuntimeException re) {
                    throw re;
                }
                throw new IOException(cause);
            }
        }
    }

    private static LoadReport report(LoadPlan plan, List<TensorReader> readers, IoStats stats,
                                     ConcurrentHistogram latency, long wallNanos) {
        Map<Header, String> notes = new IdentityHashMap<>();
        readers.forEach(r -> notes.putAll(r.notes()));
        List<LoadReport.FileReport> files = new ArrayList<>();
        for (FilePlan f : plan.files()) {
            files.add(LoadReport.FileReport.of(f, notes.get(f.file())));
        }
        Map<String, Double> phases = new LinkedHashMap<>();
        phases.put("plan", plan.planNanos() / 1e9);
        phases.put("io", stats.ioNanos.sum() / 1e9);
        phases.put("copy", stats.copyNanos.sum() / 1e9);
        phases.put("wait", stats.waitNanos.sum() / 1e9);
        LoadReport.Latency lat = latency.getTotalCount() == 0 ? new LoadReport.Latency(0, 0, 0)
                : new LoadReport.Latency(latency.getValueAtPercentile(50), latency.getValueAtPercentile(99),
                        latency.getMaxValue());
        return new LoadReport(files, plan.order().size(), plan.bytes(), wallNanos / 1e9, phases,
                stats.bytesRead.sum(), plan.partitioning().rank(), plan.partitioning().worldSize(), lat);
    }

    private static StloadException asLoadError(Exception e) {
        if (e instanceof StloadException se) {
            return se;
        }
        if (e instanceof IOException || e instanceof UncheckedIOException) {
            return new StloadException(ErrorKind.Io, null, e.getMessage(), e);
        }
        return new StloadException(ErrorKind.Io, null, "load failed: " + e, e);
    }

    private static void closeAll(List<TensorReader> readers) throws IOException {
        for (TensorReader r : readers) {
            r.close();
        }
    }

    private static void closeQuietly(List<TensorReader> readers) {
        for (TensorReader r : readers) {
            try {
                r.close();
            } catch (IOException | RuntimeException ignored) {
                // Already failing; the first error is the one worth reporting.
            }
        }
    }

    private static ThreadFactory daemon(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
