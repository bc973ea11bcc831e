package io.stload.io;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.RemoteFolder;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.ProcessIo;
import io.stload.plan.ByteRange;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.Destination;
import io.stload.report.Phase;
import io.stload.nativeio.ProcessCpu;
import io.stload.StloadException;
import java.util.function.Function;
import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.HdrHistogram.ConcurrentHistogram;

/**
 * The one load engine: executes any {@link LoadPlan}, host or device, whole checkpoint or tensor-parallel rank,
 * into any {@link Destination}. Each file is read by the strategy the plan chose for it (mmap, prefetch,
 * direct, or s3: direct's positional reads over object storage), on I/O threads, window by window; consumer threads take the plan's slices in the plan's order and
 * tell the destination as each one has landed.
 *
 * <p>Shutdown has one order, on success and on failure alike: stop issuing reads, wait for every engine thread
 * (so no thread is left inside a read, a copy or a destination call), close the files, mappings and bounce
 * buffers, then end the destination, which frees its memory if the load failed. Errors leave as
 * {@link io.stload.StloadException}: I/O errors with the file they concern, bugs as {@code Internal}.
 */
public final class Engine {
    private final NativeAccess os;
    private final DirectReader.Sources sources;
    private final Function<LoadPlan, MemoryPressure> pressureOf;

    /**
     * An engine whose system calls go through {@code os}, following this host's memory headroom during each load
     * from the reading its plan made.
     *
     * @param os the system calls
     */
    public Engine(NativeAccess os) {
        this(os, plan -> MemoryPressure.ofHost(plan.host().headroomBytes()));
    }

    /** With the memory headroom read from {@code pressure}: how tests report a tight one. */
    Engine(NativeAccess os, MemoryPressure pressure) {
        this(os, plan -> pressure);
    }

    private Engine(NativeAccess os, Function<LoadPlan, MemoryPressure> pressureOf) {
        this.os = os;
        this.sources = DirectReader.Sources.local(os);
        this.pressureOf = pressureOf;
    }

    /**
     * Executes {@code plan} into {@code destination}; the report covers the whole load, planning included.
     *
     * @param plan        the plan
     * @param destination where the bytes land
     * @param listener    hears of each tensor as it lands, on the consumer threads
     * @return the load's report
     * @throws io.stload.StloadException with the kind of the load's first failure; what the destination or listener
     *         threw is {@link io.stload.ErrorKind#Callback}
     */
    public LoadReport execute(LoadPlan plan, Destination destination, LoadListener listener) {
        if (plan == null || destination == null || listener == null) {
            throw StloadException.usage("a load needs a plan, a destination and a listener (LoadListener.NONE for"
                    + " none), not null");
        }
        if (!plan.checkpoint().isOpen()) { // the plan borrows it: closed, it is no longer the caller's to load
            throw StloadException.usage("the checkpoint at " + plan.checkpoint().path() + " is closed; load a plan"
                    + " of an open one");
        }
        long start = System.nanoTime() - plan.planNanos();
        long kernelReadBefore = ProcessIo.readBytes();
        ProcessCpu cpuBefore = ProcessCpu.now();
        Delivery delivery = new Delivery(destination, plan);
        MemoryPressure pressure = pressureOf.apply(plan);
        IoStats stats = new IoStats();
        ConcurrentHistogram latencyMicros = new ConcurrentHistogram(3);
        List<WindowedReader> readers = new ArrayList<>();
        ExecutorService io = Executors.newCachedThreadPool(daemon("stload-io"));
        ExecutorService consumers = Executors.newFixedThreadPool(plan.options().threads(), daemon("stload-consume"));
        Throwable failure = null;
        try {
            delivery.begin(plan);
            RoomWatch watch = delivery.roomWatch(); // counted from before the first read
            Map<Header, WindowedReader> readerOf = new IdentityHashMap<>();
            for (Map.Entry<LoadStrategy, List<FilePlan>> group : byStrategy(plan).entrySet()) {
                List<Header> files = group.getValue().stream().map(FilePlan::file).toList();
                List<TensorSlice> slices = plan.order().stream().filter(t -> files.contains(t.file()))
                        .map(plan::slice).toList();
                WindowedReader reader = create(group.getKey(), group.getValue(), delivery, slices, plan, pressure,
                        stats);
                readers.add(reader);
                files.forEach(h -> readerOf.put(h, reader));
            }
            readers.forEach(r -> r.start(io));
            long budget = delivery.budgetBytes();
            RoomGate gate = delivery.holdsUntilLanded() ? new RoomGate(() -> budget) : RoomGate.OPEN;
            consume(plan, readerOf, gate, consumers, latencyMicros, listener, watch);
        } catch (Throwable t) {
            failure = t;
        }
        failure = shutdown(failure, plan, readers, io, consumers, delivery);
        if (failure != null) {
            if (failure instanceof InterruptedException) {
                Thread.currentThread().interrupt(); // the caller's code decides what its interrupt means
            }
            throw LoadErrors.convert(failure);
        }
        return report(plan, readers, delivery, stats, latencyMicros, System.nanoTime() - start,
                ProcessIo.readBytesSince(kernelReadBefore), ProcessCpu.now().since(cpuBefore));
    }

    private WindowedReader create(LoadStrategy strategy, List<FilePlan> files, Delivery destination,
                                  List<TensorSlice> slices, LoadPlan plan, MemoryPressure pressure, IoStats stats)
            throws IOException {
        Thresholds t = plan.options().thresholds();
        int threads = plan.options().threads();
        return switch (strategy) {
            case MMAP -> inMemory(files, t, destination, pressure)
                    ? new DirectReader(os, DirectReader.Sources.buffered(os), files, destination, slices,
                            t.prefetchWindow(), t.directBlock(), t.maxGapBytes(), threads, stats)
                    : new MmapReader(os, files, destination, slices, t.directBlock(), t.maxGapBytes(), pressure,
                            threads, stats);
            case PREFETCH -> new PrefetchReader(os, files, destination, slices, t.prefetchWindow(), t.prefetchAhead(),
                    t.maxGapBytes(), pressure, threads, stats);
            case DIRECT -> new DirectReader(os, sources, files, destination, slices, t.directBlock(), t.maxGapBytes(),
                    threads, stats);
            // The positional path over the objects: a block is one read of part-sized GETs, as many blocks in
            // flight as the folder allows requests.
            case S3 -> new DirectReader(os, remoteSources(plan.checkpoint()), files, destination, slices,
                    plan.checkpoint().remote().partBytes(), t.maxGapBytes(), plan.checkpoint().remote().concurrency(),
                    stats);
            case AUTO -> throw new IllegalStateException("a plan resolves AUTO for every file");
        };
    }

    /**
     * True when {@code mmap}'s files are in memory (on a RAM filesystem, or at least the resident fraction that has
     * AUTO choose mmap) and the headroom holds what the load reads beside what the destination fills: then buffered pread
     * copies their pages out of the page cache straight into the destination. The kernel copies through its own
     * mapping of all memory, where a copy out of the file's mapping pays for page tables built for every page
     * (populated or faulted in), a TLB miss per page (a costly one in a virtual machine) and the unmapping at the end:
     * on a 2-core VM 2.5x the copy's time and more, a third of a warm load. Otherwise (pages to read from the disk,
     * or memory short) the mapping is read, each slice's pages populated exactly ({@link MmapReader}).
     */
    private static boolean inMemory(List<FilePlan> files, Thresholds t, Delivery destination,
                                    MemoryPressure pressure) {
        long reads = 0;
        for (FilePlan f : files) {
            if (!f.facts().fs().ram() && f.facts().resident() < t.residentForMmap()) {
                return false;
            }
            reads += f.reads().stream().mapToLong(ByteRange::length).sum();
        }
        return !pressure.isLow(reads + destination.heldBytes());
    }

    /** Each file of a checkpoint in object storage, opened by its name in the folder. */
    private static DirectReader.Sources remoteSources(Checkpoint checkpoint) {
        RemoteFolder folder = checkpoint.remote();
        return (h, block) -> folder.open(checkpoint.nameOf(h));
    }

    private static Map<LoadStrategy, List<FilePlan>> byStrategy(LoadPlan plan) {
        Map<LoadStrategy, List<FilePlan>> groups = new EnumMap<>(LoadStrategy.class);
        for (FilePlan f : plan.files()) {
            groups.computeIfAbsent(f.strategy(), s -> new ArrayList<>()).add(f);
        }
        return groups;
    }

    /**
     * Consumer threads take tensors in plan order and wait for each rank-local slice to land, each inside
     * {@code gate}, in turn, while it holds its slice.
     */
    private static void consume(LoadPlan plan, Map<Header, WindowedReader> readerOf, RoomGate gate,
                                ExecutorService consumers, ConcurrentHistogram latencyMicros, LoadListener listener,
                                RoomWatch watch) throws Throwable {
        List<TensorRef> order = plan.order();
        AtomicInteger next = new AtomicInteger();
        // Consumers end in any order: the first failure is seen as it happens, not after the consumers before it.
        CompletionService<Void> ended = new ExecutorCompletionService<>(consumers);
        for (int i = 0; i < plan.options().threads(); i++) {
            ended.submit(() -> {
                try {
                    int k;
                    while ((k = next.getAndIncrement()) < order.size()) {
                        consumeOne(plan, order.get(k), k, readerOf, gate, latencyMicros, listener);
                    }
                    return null;
                } catch (Throwable t) {
                    next.set(order.size()); // no consumer takes another tensor
                    throw t;
                }
            });
        }
        for (int i = 0; i < plan.options().threads(); i++) {
            Future<Void> done;
            while ((done = ended.poll(MemoryPressure.INTERVAL_NANOS, TimeUnit.NANOSECONDS)) == null) {
                watch.check();
            }
            try {
                done.get();
            } catch (ExecutionException e) {
                throw e.getCause();
            }
        }
    }

    private static void consumeOne(LoadPlan plan, TensorRef t, int turn, Map<Header, WindowedReader> readerOf,
                                   RoomGate gate, ConcurrentHistogram latencyMicros, LoadListener listener)
            throws InterruptedException {
        TensorSlice s = plan.slice(t);
        long begin = System.nanoTime();
        gate.enterInTurn(turn, s.byteSize());
        try {
            readerOf.get(t.file()).materialize(s);
        } finally {
            gate.leave(s.byteSize());
        }
        latencyMicros.recordValue(Math.max(1, (System.nanoTime() - begin) / 1000));
        try {
            listener.materialized(t, s.byteSize());
        } catch (RuntimeException e) {
            throw StloadException.callback("the load listener failed on " + t.name(), e);
        }
    }

    /**
     * Stop, wait, close, end: the one way a load finishes. Returns the load's failure (the first one; later
     * ones are attached to it), or null.
     */
    private static Throwable shutdown(Throwable failure, LoadPlan plan, List<WindowedReader> readers,
                                      ExecutorService io, ExecutorService consumers, Delivery destination) {
        if (failure != null) {
            readers.forEach(r -> r.stop(failure));
            // Wakes threads blocked waiting for memory or a window; a read in progress finishes first.
            consumers.shutdownNow();
            io.shutdownNow();
        }
        // Without a failure, windows wholly in a read-through gap have no consumer waiting for them: they finish
        // here, so that the report counts them.
        io.shutdown();
        consumers.shutdown();
        boolean interrupted = awaitUninterruptibly(consumers) | awaitUninterruptibly(io);
        Throwable result = failure;
        for (WindowedReader r : readers) {
            try {
                r.close();
            } catch (Throwable t) {
                result = first(result, t);
            }
        }
        if (result == null) {
            result = replacedFile(plan);
        }
        try {
            destination.end(result);
        } catch (Throwable t) {
            if (result == null) {
                // The destination's own asynchronous work failed after every read succeeded: end it as failed.
                result = t;
                try {
                    destination.end(t);
                } catch (Throwable again) {
                    t.addSuppressed(again);
                }
            } else {
                result.addSuppressed(t);
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return result;
    }

    /**
     * A file replaced (or changed) under its name since its header was read, or null: each file was checked when it
     * was opened, so its bytes are of one version, but a file opened again later, or the others beside it, may be
     * of another; the load fails as an object-storage load does on a changed ETag.
     */
    private static Throwable replacedFile(LoadPlan plan) {
        try {
            plan.files().forEach(f -> f.file().requireUnchanged());
            return null;
        } catch (StloadException e) {
            return e;
        }
    }

    /** Waits for every task of {@code pool} to end; memory may be freed only then, so an interrupt cannot cut it short. */
    private static boolean awaitUninterruptibly(ExecutorService pool) {
        boolean interrupted = false;
        while (true) {
            try {
                if (pool.awaitTermination(1, TimeUnit.MINUTES)) {
                    return interrupted;
                }
            } catch (InterruptedException e) {
                interrupted = true;
                pool.shutdownNow();
            }
        }
    }

    private static Throwable first(Throwable kept, Throwable t) {
        if (kept == null) {
            return t;
        }
        kept.addSuppressed(t);
        return kept;
    }

    private static LoadReport report(LoadPlan plan, List<WindowedReader> readers, Delivery destination,
                                     IoStats stats, ConcurrentHistogram latency, long wallNanos,
                                     long kernelBytesRead, ProcessCpu cpu) {
        Map<Header, String> notes = new IdentityHashMap<>();
        readers.forEach(r -> notes.putAll(r.notes()));
        List<LoadReport.FileReport> files = new ArrayList<>();
        for (FilePlan f : plan.files()) {
            files.add(LoadReport.FileReport.of(f, plan.checkpoint().location(f.file()), notes.get(f.file())));
        }
        Map<Phase, Double> phases = new EnumMap<>(Phase.class);
        phases.put(Phase.PLAN, plan.planNanos() / 1e9);
        phases.put(Phase.IO, stats.ioNanos.sum() / 1e9);
        phases.put(Phase.COPY, stats.copyNanos.sum() / 1e9);
        phases.put(Phase.WAIT, stats.waitNanos.sum() / 1e9);
        phases.putAll(destination.phases());
        LoadReport.Latency lat = latency.getTotalCount() == 0 ? new LoadReport.Latency(0, 0, 0)
                : new LoadReport.Latency(latency.getValueAtPercentile(50), latency.getValueAtPercentile(99),
                        latency.getMaxValue());
        return new LoadReport(files, plan.order().size(), plan.bytes(), wallNanos / 1e9, phases,
                stats.bytesRead.sum(), plan.partitioning().rank(), plan.partitioning().worldSize(), lat,
                kernelBytesRead, cpu.userNanos() < 0 ? LoadReport.Cpu.UNKNOWN
                        : new LoadReport.Cpu(cpu.userNanos() / 1e9, cpu.systemNanos() / 1e9),
                new LoadReport.Memory(destination.budgetBytes(), destination.peakHeldBytes(),
                        stats.readBufferBytes.sum()));
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
