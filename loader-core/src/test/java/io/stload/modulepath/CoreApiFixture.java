package io.stload.modulepath;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.CheckpointVerifier;
import io.stload.checkpoint.LocalRemoteFolder;
import io.stload.checkpoint.RemoteFolder;
import io.stload.checkpoint.RepoRef;
import io.stload.checkpoint.ShardedWriter;
import io.stload.checkpoint.TensorRef;
import io.stload.checkpoint.WaitPolicy;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.RangeSource;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Shape;
import io.stload.format.Slice;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.ByteRange;
import io.stload.plan.DestinationProfile;
import io.stload.plan.FileDecision;
import io.stload.plan.FileFacts;
import io.stload.plan.FilePlan;
import io.stload.plan.Filesystem;
import io.stload.plan.HostFacts;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorFilter;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import io.stload.sink.Destination;
import io.stload.sink.HostSink;
import io.stload.sink.SliceScatter;
import io.stload.sink.StreamingSink;
import io.stload.sink.TensorConsumer;
import io.stload.store.FlushHook;
import io.stload.store.Lease;
import io.stload.store.ReloadDelta;
import io.stload.store.ReloadOptions;
import io.stload.store.SourceVersion;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * What {@link ApiMisuseTest} calls io.stload.core's API with: a checkpoint of two small tensors (and the model's
 * config.json) in a folder, opened; an ordinary value of each type the API takes; and a receiver of each API type
 * whose methods take a reference. Closing it closes what it opened.
 */
final class CoreApiFixture implements AutoCloseable {
    private static final String CONFIG = """
            {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "vocab_size": 32}""";

    final NullProbe probe;
    /** An instance of each type, as the API's own types give one; fresh where a call may change it. */
    final Map<Class<?>, Supplier<?>> receivers = new LinkedHashMap<>();
    private final List<AutoCloseable> opened = new ArrayList<>();
    private final Path dir;
    private final Path file;
    private final Arena arena;
    private final Checkpoint checkpoint;
    private final TensorRef ref;
    private final LoadPlan plan;
    private final LoadedWeights loaded;
    private int outputs;

    CoreApiFixture(Path dir, Set<String> takesNull) throws IOException {
        this.probe = new NullProbe(takesNull);
        this.dir = dir;
        this.file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of("format", "pt"), List.of(
                new SafetensorsWriter.TensorData("w", DType.F32, new long[] {2, 2}, new byte[16]),
                new SafetensorsWriter.TensorData("b", DType.BF16, new long[] {4}, new byte[8])));
        Files.writeString(dir.resolve("config.json"), CONFIG);
        this.arena = open(Arena.ofShared());
        this.checkpoint = open(Checkpoint.open(dir));
        this.ref = checkpoint.tensor("w");
        this.plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS);
        this.loaded = open(Loader.load(checkpoint, LoadOptions.DEFAULTS));
        jdkSamples();
        apiSamples();
        memberSamples();
        receivers();
    }

    /** Each receiver's calls that broke the contract. */
    SortedMap<String, String> methods() {
        SortedMap<String, String> broken = new TreeMap<>();
        receivers.forEach((type, receiver) -> broken.putAll(probe.methods(type, receiver)));
        return broken;
    }

    private void jdkSamples() throws IOException {
        value(String.class, "w");
        value(Object.class, "w");
        value(Path.class, dir);
        value(Duration.class, Duration.ofMillis(10));
        value(List.class, List.of());
        value(Map.class, Map.of());
        value(Set.class, Set.of());
        value(Collection.class, List.of());
        value(Iterable.class, List.of());
        value(Optional.class, Optional.empty());
        value(Pattern.class, Pattern.compile("w"));
        value(Throwable.class, new IllegalStateException("a sample failure"));
        value(Runnable.class, () -> { });
        value(Consumer.class, x -> { });
        value(Function.class, x -> null);
        value(Supplier.class, () -> checkpoint);
        value(LongSupplier.class, System::nanoTime);
        value(byte[].class, Files.readAllBytes(file));
        value(long[].class, new long[] {2, 2});
        value(float[].class, new float[4]);
        probe.sample(FloatBuffer.class, () -> FloatBuffer.allocate(4));
        probe.sample(MemorySegment.class, () -> arena.allocate(64, 64));
        value(Arena.class, arena);
        value(SegmentAllocator.class, arena);
        value(FileChannel.class, open(FileChannel.open(file)));
    }

    private void apiSamples() throws IOException {
        RemoteFolder remote = new LocalRemoteFolder(dir, "remote://test/", 1, 1 << 20, 0);
        FilePlan filePlan = plan.files().getFirst();
        TensorSlice slice = plan.slice(ref);
        value(DType.class, DType.F32);
        value(LoadStrategy.class, LoadStrategy.PREFETCH); // AUTO, the first, is no strategy a file is read with
        value(Checkpoint.class, checkpoint);
        value(RemoteFolder.class, remote);
        value(RangeSource.class, open(remote.open("model.safetensors")));
        value(RepoRef.class, new RepoRef("org", "model", "main"));
        value(WaitPolicy.class, WaitPolicy.of(Duration.ofMillis(10)));
        value(WaitPolicy.Sleeper.class, nanos -> { });
        value(CheckpointVerifier.HashProgress.class, CheckpointVerifier.HashProgress.NONE);
        value(ShardedWriter.Filler.class, target -> Files.writeString(target.resolve("a"), "{}"));
        value(TensorRef.class, ref);
        value(Header.class, checkpoint.files().getFirst());
        value(TensorInfo.class, ref.info());
        value(Shape.class, Shape.of(2, 2));
        value(Slice.class, Slice.WHOLE);
        value(Slice.Item.class, Slice.all());
        value(SliceSpec.RunVisitor.class, (offset, count, bytes) -> { });
        value(Tensor.class, checkpoint.copy("w"));
        value(SafetensorsWriter.Entry.class, new SafetensorsWriter.Entry("w", DType.F32, new long[] {2, 2}));
        value(SafetensorsWriter.DataSource.class,
                (entry, out) -> out.write(ByteBuffer.allocate((int) entry.byteSize())));
        value(LoadOptions.class, LoadOptions.DEFAULTS);
        value(Thresholds.class, Thresholds.DEFAULTS);
        value(Partitioning.class, Partitioning.NONE);
        value(PartitionSpec.class, PartitionSpec.defaults());
        value(PartitionRule.class, PartitionRule.glob("w", 0, false));
        value(TensorFilter.class, TensorFilter.ALL);
        value(LoadPlan.class, plan);
        value(FilePlan.class, filePlan);
        value(FileFacts.class, filePlan.facts());
        value(FileDecision.class, filePlan.decision());
        value(Filesystem.class, Filesystem.UNKNOWN);
        value(HostFacts.class, plan.host());
        value(DestinationProfile.class, DestinationProfile.HOST);
        value(TensorSlice.class, slice);
        value(ByteRange.class, new ByteRange(0, 16));
        value(LoadListener.class, LoadListener.NONE);
        value(LoadReport.Cpu.class, LoadReport.Cpu.UNKNOWN);
        value(LoadReport.Memory.class, LoadReport.Memory.NONE);
        value(LoadReport.Latency.class, new LoadReport.Latency(1, 2, 3));
        // The caller's memory, from the fixture's arena: a load into it leaves nothing to free.
        probe.sample(Destination.class, () -> new CallerBuffers(s -> arena.allocate(s.byteSize())));
        value(TensorConsumer.class, (s, bytes) -> { });
        value(FlushHook.class, (from, to) -> { });
        value(WeightSource.class, WeightSource.path(dir));
        value(StoreMemory.class, StoreMemory.host());
        value(ReloadOptions.class, ReloadOptions.IMMEDIATE);
        value(ReloadDelta.class, ReloadDelta.NONE);
        value(SourceVersion.class, new SourceVersion("w", Optional.empty(), Map.of()));
    }

    /** Where the ordinary value of a type is no ordinary argument of one member. */
    private void memberSamples() {
        // Writers write somewhere new each call.
        Path written = dir.resolve("written");
        for (String writer : List.of("SafetensorsWriter.write", "ShardedWriter.write", "ShardedWriter.writeAtomically",
                "Resharder.reshard")) {
            probe.sample(writer, Path.class, () -> written.resolve("out-" + outputs++));
        }
        // Readers read the file they read, a string naming a checkpoint names the sample one.
        value("ShardIndex.parse", byte[].class,
                "{\"weight_map\": {\"w\": \"model.safetensors\"}}".getBytes(StandardCharsets.UTF_8));
        value("HeaderParser.read", Path.class, file);
        value("PartitionSpec.fromConfig", Path.class, dir.resolve("config.json"));
        for (String resolver : List.of("CheckpointSource.resolve", "WeightSource.resolve", "CheckpointVerifier.verify")) {
            value(resolver, String.class, dir.toString());
        }
        // Memory a tensor's entry fits; a store's budget its version fits; a dtype F32 narrows to.
        value("new SafetensorsWriter.TensorData", byte[].class, new byte[16]);
        value("new Tensor", MemorySegment.class, arena.allocate(16));
        value("Tensor.ofMapping", MemorySegment.class, arena.allocate(16));
        value("WeightStore.open", long.class, 1L << 20);
        value("Convert.fromF32", DType.class, DType.BF16);
        // Reload options that can all act: no quiesce timeout without a quiesce, no staging bound beside.
        value("new ReloadOptions", Duration.class, Duration.ZERO);
        value("new ReloadOptions", long.class, ReloadOptions.DEFAULT_STAGING_BYTES);
        value("ReloadOptions.withStagingBytes", long.class, ReloadOptions.DEFAULT_STAGING_BYTES);
        // Where two strings, or numbers, must fit each other.
        probe.arguments("new Partitioning(int, int, PartitionSpec)",
                () -> new Object[] {0, 1, PartitionSpec.defaults()});
        probe.arguments("TensorSlice.split(TensorRef, int, boolean, int, int)",
                () -> new Object[] {ref, 0, false, 0, 1});
        probe.arguments("TensorSlice.of(TensorRef, PartitionRule, int, int)",
                () -> new Object[] {ref, PartitionRule.glob("w", 0, false), 0, 1});
        probe.arguments("new PartitionRule(String, Pattern, int, boolean, long, long, List, long, int)",
                () -> new Object[] {"w", Pattern.compile("w"), 0, false, 0L, 0L, List.of(), 0L, 0});
        Thresholds t = Thresholds.DEFAULTS;
        probe.arguments("new Thresholds(double, long, double, LoadStrategy, long, long, long, long)",
                () -> new Object[] {t.residentForMmap(), t.smallReadBytes(), t.headroomFactor(), t.coldLocal(),
                        t.prefetchWindow(), t.prefetchAhead(), t.directBlock(), t.maxGapBytes()});
        probe.arguments("new TensorInfo(String, DType, Shape, long, long, String)",
                () -> new Object[] {"w", DType.F32, Shape.of(2, 2), 0L, 16L, "F32"});
        probe.arguments("Checkpoint.slice(String, String)", () -> new Object[] {"w", "0:1"});
        probe.arguments("Checkpoint.slice(String, String, SegmentAllocator)", () -> new Object[] {"w", "0:1", arena});
        probe.arguments("PartitionSpec.load(String, Checkpoint)",
                () -> new Object[] {PartitionSpec.DEFAULT_NAME, checkpoint});
        probe.arguments("PartitionSpec.parse(String, String)", () -> new Object[] {"rules", "{\"rules\": []}"});
        probe.arguments("PartitionSpec.fromConfigJson(String, String, boolean)",
                () -> new Object[] {"config.json", CONFIG, false});
        // Host memory overwrites and writes the tensors of a load of the sample checkpoint.
        Runnable overwriting = () -> { };
        probe.arguments("StoreMemory.overwrite(LoadPlan, Map, Runnable)",
                () -> new Object[] {plan, loaded.tensors(), overwriting});
        probe.arguments("StoreMemory.write(List, Runnable)", () -> new Object[] {
                List.of(new StoreMemory.Write<>(loaded.tensor("w"), arena.allocate(16))), overwriting});
    }

    private void receivers() {
        TensorSlice slice = plan.slice(ref);
        WeightStore<Tensor> store = open(WeightStore.open(dir, LoadOptions.DEFAULTS, 1 << 20));
        receive(Checkpoint.class, checkpoint);
        receive(Header.class, checkpoint.files().getFirst());
        receive(TensorInfo.class, ref.info());
        receive(Slice.class, Slice.WHOLE);
        receive(SliceSpec.class, SliceSpec.parse("0:1", ref.info()));
        receive(Tensor.class, checkpoint.copy("w"));
        receive(RepoRef.class, new RepoRef("org", "model", "main"));
        receive(WaitPolicy.class, WaitPolicy.of(Duration.ofMillis(10)));
        receive(LoadOptions.class, LoadOptions.DEFAULTS);
        receive(Thresholds.class, Thresholds.DEFAULTS);
        receive(PartitionSpec.class, PartitionSpec.defaults());
        receive(PartitionRule.class, PartitionRule.glob("w", 0, false));
        receive(TensorFilter.class, TensorFilter.of("w"));
        receive(LoadPlan.class, plan);
        receive(RankSlices.Matched.class, RankSlices.match(checkpoint, Partitioning.NONE));
        receive(DestinationProfile.class, DestinationProfile.HOST);
        receive(Planner.class, new Planner());
        receive(LoadReport.class, loaded.report());
        // A destination holds one load: each call gets a fresh one, begun (a call out of turn is misuse of its own).
        receivers.put(HostSink.class, HostSink::new);
        receivers.put(CallerBuffers.class, () -> begun(new CallerBuffers(s -> arena.allocate(s.byteSize()))));
        receivers.put(StreamingSink.class, () -> begun(new StreamingSink((s, bytes) -> { }, 1 << 20)));
        receive(SliceScatter.Piece.class,
                new SliceScatter(List.of(slice)).pieces(slice.spanStart(), slice.spanEnd()).getFirst());
        receive(Loader.class, new Loader());
        receive(LoadedWeights.class, loaded);
        receive(WeightStore.class, store);
        receive(Lease.class, open(store.lease()));
        receive(ReloadOptions.class, ReloadOptions.IMMEDIATE);
        receive(StoreMemory.class, StoreMemory.host());
    }

    private <T> void value(Class<T> type, T sample) {
        probe.sample(type, () -> sample);
    }

    private <T> void value(String member, Class<T> type, T sample) {
        probe.sample(member, type, () -> sample);
    }

    private <T> void receive(Class<T> type, T receiver) {
        receivers.put(type, () -> receiver);
    }

    private <T extends AutoCloseable> T open(T resource) {
        opened.add(resource);
        return resource;
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable resource : opened.reversed()) {
            resource.close();
        }
    }

    private <D extends Destination> D begun(D destination) {
        try {
            destination.begin(plan);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return destination;
    }
}
