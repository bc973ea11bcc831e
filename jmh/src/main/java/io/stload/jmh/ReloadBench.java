package io.stload.jmh;

import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.ShardedWriter;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.Tensor;
import io.stload.nativeio.ProcessIo;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Sizes;
import io.stload.store.ReloadDelta;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadResult;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * The reload targets, measured (not a JMH benchmark: each measurement is one cold reload, and the page cache is
 * dropped before it, which needs root). {@code bench/reload.sh} runs it and keeps what it prints.
 *
 * <ul>
 *   <li>{@code delta}: a Llama-shaped checkpoint (step A, with digests) and its next step B, where the tensors of every
 *   tenth layer changed; a store serving A reloads B beside, into host memory, cold: once reading every tensor
 *   ({@code full}), once only what changed ({@code delta}), interleaved. One JSON line per reload: seconds, tensor
 *   bytes read, bytes the loader moved from storage, bytes the kernel read for the process.</li>
 *   <li>{@code inplace}: a store serving A reloads B in place, once staged under the bound and once with a bound
 *   below the changed bytes (written straight from the files), and then a step where every tensor changed, under the
 *   default bound. A thread samples the process's anonymous memory ({@code RssAnon}) every millisecond; one JSON line
 *   per reload with its peak above what the process held before the reload, and the bound.</li>
 * </ul>
 *
 * usage: {@code ReloadBench delta|inplace DATA_DIR [--size 2GiB] [--shard 512MiB] [--reps 3] [--strategy auto]
 * [--threads 4]}
 */
public final class ReloadBench {
    /** The tensors of every tenth layer (3, 13, 23, ...): about a tenth of the tensors and of the bytes. */
    static final Pattern CHANGED = Pattern.compile("model\\.layers\\.[0-9]*3\\..*");

    private ReloadBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ReloadBench delta|inplace DATA_DIR [--size 2GiB] [--shard 512MiB] [--reps 3]"
                    + " [--strategy auto]");
            System.exit(2);
        }
        Map<String, String> flags = new HashMap<>(Map.of("--size", "2GiB", "--shard", "512MiB", "--reps", "3",
                "--strategy", "auto", "--threads", "4"));
        for (int i = 2; i + 1 < args.length; i += 2) {
            flags.put(args[i], args[i + 1]);
        }
        Path data = Path.of(args[1]);
        long size = Sizes.parse(flags.get("--size"));
        long shard = Sizes.parse(flags.get("--shard"));
        System.setProperty("stload.bench.dir", data.resolve("generated").toString());
        PrintStream stdout = System.out;
        System.setOut(System.err); // stdout is the JSON lines
        CheckpointSummary generated = BenchCheckpoints.prepare(CheckpointSpec.of(ShapeKind.LLAMA, size)
                .withShardBytes(shard));
        System.setOut(stdout);
        Path a = data.resolve("step-a");
        Path b = data.resolve("step-b");
        Path c = data.resolve("step-c");
        long[] share = writeSteps(generated.dir(), a, b, c, shard);
        System.err.printf(Locale.ROOT, "steps: %s; B changes %.1f%% of the tensors, %.1f%% of the bytes%n", data,
                100.0 * share[0] / share[1], 100.0 * share[2] / share[3]);
        LoadOptions options = LoadOptions.DEFAULTS.withStrategy(LoadStrategy.parse(flags.get("--strategy")))
                .withThreads(Integer.parseInt(flags.get("--threads")));
        int reps = Integer.parseInt(flags.get("--reps"));
        switch (args[0]) {
            case "delta" -> delta(a, b, options, reps, System.out);
            case "inplace" -> inPlace(a, b, c, options, System.out);
            default -> throw new IllegalArgumentException("delta or inplace, not " + args[0]);
        }
    }

    /**
     * Writes A (the generated checkpoint, with digests), B (A with every byte of the {@link #CHANGED} tensors
     * flipped) and C (A with every tensor flipped), unless they are there already.
     *
     * @return tensors changed by B, tensors, bytes changed by B, bytes
     */
    static long[] writeSteps(Path generated, Path a, Path b, Path c, long shard) throws IOException {
        long[] share = new long[4];
        try (Checkpoint in = Checkpoint.open(generated)) {
            List<Entry> entries = new ArrayList<>();
            for (TensorRef t : in.tensors().values()) {
                entries.add(new Entry(t.name(), t.info().dtype(), t.info().shape()));
                boolean changed = CHANGED.matcher(t.name()).matches();
                share[0] += changed ? 1 : 0;
                share[1]++;
                share[2] += changed ? t.info().byteSize() : 0;
                share[3] += t.info().byteSize();
            }
            write(in, a, entries, name -> false, shard);
            write(in, b, entries, name -> CHANGED.matcher(name).matches(), shard);
            write(in, c, entries, name -> true, shard);
        }
        return share;
    }

    private static void write(Checkpoint in, Path dir, List<Entry> entries,
                              java.util.function.Predicate<String> flipped, long shard) throws IOException {
        if (Files.exists(dir.resolve(ShardedWriter.INDEX)) || Files.exists(dir.resolve(ShardedWriter.SINGLE))) {
            return;
        }
        Map<Header, FileChannel> channels = new HashMap<>();
        ByteBuffer buffer = ByteBuffer.allocateDirect(8 << 20);
        try {
            for (Header h : in.files()) {
                channels.put(h, FileChannel.open(h.file(), StandardOpenOption.READ));
            }
            ShardedWriter.write(dir, Map.of("format", "pt"), entries, (e, out) -> {
                TensorRef t = in.tensor(e.name());
                FileChannel from = channels.get(t.file());
                boolean flip = flipped.test(e.name());
                for (long at = t.fileOffset(), end = at + e.byteSize(); at < end; ) {
                    buffer.clear().limit((int) Math.min(buffer.capacity(), end - at));
                    int n = from.read(buffer, at);
                    buffer.flip();
                    if (flip) {
                        for (int i = 0; i < n; i++) {
                            buffer.put(i, (byte) ~buffer.get(i));
                        }
                    }
                    while (buffer.hasRemaining()) {
                        out.write(buffer);
                    }
                    at += n;
                }
            }, shard, true);
        } finally {
            for (FileChannel ch : channels.values()) {
                ch.close();
            }
        }
    }

    private static List<Path> files(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
    }

    private static void delta(Path a, Path b, LoadOptions options, int reps, PrintStream out) throws IOException {
        List<Path> files = new ArrayList<>(files(a));
        files.addAll(files(b));
        PageCache.requireDroppable(files);
        for (int rep = 1; rep <= reps; rep++) {
            for (String which : List.of("full", "delta")) {
                try (WeightStore<Tensor> store = WeightStore.open(WeightSource.path(a), StoreMemory.host(), options,
                        Long.MAX_VALUE)) {
                    PageCache.drop(files);
                    ReloadOptions how = which.equals("full")
                            ? ReloadOptions.IMMEDIATE.withCarryOver(ReloadOptions.CarryOver.NONE)
                            : ReloadOptions.IMMEDIATE;
                    long kernelBefore = ProcessIo.readBytes();
                    long start = System.nanoTime();
                    ReloadResult r = store.reload(b, how);
                    double seconds = (System.nanoTime() - start) / 1e9;
                    long kernel = ProcessIo.readBytesSince(kernelBefore);
                    if (!r.reloaded()) {
                        throw new IllegalStateException(r.toString());
                    }
                    ReloadDelta d = r.delta();
                    out.printf(Locale.ROOT, "{\"which\": \"%s\", \"rep\": %d, \"seconds\": %.4f, \"tensors_read\": %d, "
                                    + "\"tensors\": %d, \"bytes_read\": %d, \"bytes\": %d, \"bytes_from_storage\": %d, "
                                    + "\"kernel_bytes_read\": %d}%n", which, rep, seconds, d.tensorsRead(),
                            d.tensorsRead() + d.tensorsCarried(), d.bytesRead(), d.bytesRead() + d.bytesCarried(),
                            d.bytesFromStorage(), kernel);
                }
            }
        }
    }

    private static void inPlace(Path a, Path b, Path c, LoadOptions options, PrintStream out) throws Exception {
        long changedB;
        try (Checkpoint ckpt = Checkpoint.open(b)) {
            changedB = ckpt.tensors().values().stream().filter(t -> CHANGED.matcher(t.name()).matches())
                    .mapToLong(t -> t.info().byteSize()).sum();
        }
        record Case(String name, Path target, long bound) {
        }
        // Staging takes the changed bytes and the engine's read buffers (a direct block per I/O thread): a bound just
        // above both stages; a quarter of the changed bytes does not, and they are written straight from the files.
        long readBuffers = (long) options.threads() * options.thresholds().directBlock();
        List<Case> cases = List.of(
                new Case("staged", b, changedB + readBuffers + (changedB >> 4)),
                new Case("straight", b, changedB / 4),
                new Case("everything", c, ReloadOptions.DEFAULT_STAGING_BYTES));
        for (Case k : cases) {
            try (WeightStore<Tensor> store = WeightStore.open(WeightSource.path(a), StoreMemory.host(), options,
                    Long.MAX_VALUE)) {
                System.gc();
                long before = rssAnon();
                AtomicLong peak = new AtomicLong(before);
                AtomicBoolean stop = new AtomicBoolean();
                Thread sampler = new Thread(() -> {
                    while (!stop.get()) {
                        peak.accumulateAndGet(rssAnon(), Math::max);
                        try {
                            Thread.sleep(1);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }, "rss-sampler");
                sampler.setDaemon(true);
                sampler.start();
                long start = System.nanoTime();
                ReloadResult r = store.reload(k.target(), ReloadOptions.inPlace(Duration.ofSeconds(60))
                        .withStagingBytes(k.bound()));
                double seconds = (System.nanoTime() - start) / 1e9;
                stop.set(true);
                sampler.join();
                peak.accumulateAndGet(rssAnon(), Math::max);
                if (!r.reloaded()) {
                    throw new IllegalStateException(r.toString());
                }
                out.printf(Locale.ROOT, "{\"case\": \"%s\", \"seconds\": %.4f, \"bound\": %d, \"bytes_read\": %d, "
                                + "\"staged_bytes\": %d, \"serving_bytes\": %d, \"peak_extra_anon\": %d}%n", k.name(),
                        seconds, k.bound(), r.delta().bytesRead(), r.delta().stagedBytes(), store.memoryBytes(),
                        peak.get() - before);
            }
        }
    }

    /** The process's resident anonymous memory, in bytes ({@code RssAnon} of {@code /proc/self/status}). */
    static long rssAnon() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("RssAnon:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        throw new IllegalStateException("no RssAnon in /proc/self/status");
    }
}
