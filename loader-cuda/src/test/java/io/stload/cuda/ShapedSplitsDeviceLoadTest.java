package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.benchdata.HubCheckpointGenerator;
import io.stload.benchdata.HubFamily;
import io.stload.benchdata.HubModel;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.TensorSlice;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Heads, fused parts and padded splits into GPU memory (the CPU copy engine, whose fresh device memory holds
 * garbage, as cudaMalloc's may): each rank's device slices equal the host loader's for the same plan, the pad rows
 * are zeroed on the device, and inner-dimension parts land at their pitch.
 */
class ShapedSplitsDeviceLoadTest {
    private static final RingOptions TINY_RING = new RingOptions(3, 4 << 10, Pinning.HOST_ALLOC);
    private static final Thresholds SMALL_STEPS = new Thresholds(0.8, 64L << 20, 1.25, LoadStrategy.DIRECT,
            16 << 10, 48 << 10, 64 << 10, 0);

    /**
     * Inner-dimension parts and padding, whose runs land at a pitch wider than themselves; at W = 8 the last ranks
     * hold nothing but pad rows (16 columns for 10, 16 rows for 13).
     */
    static final String INNER = """
            {"rules": [
              {"pattern": "inner_parts", "split": 1, "parts": [{"size": 4}, {"size": 8}]},
              {"pattern": "inner_pad", "split": 1, "pad_to": 8},
              {"pattern": "rows_pad", "split": 0, "pad_to": 8}
            ]}""";

    @TempDir
    static Path dir;
    static Checkpoint phi3;
    static Checkpoint llama;
    static Checkpoint inner;

    @BeforeAll
    static void write() throws IOException {
        HubCheckpointGenerator.generate(HubModel.of(HubFamily.PHI3).withShardBytes(256 << 10), dir.resolve("phi3"));
        HubCheckpointGenerator.generate(HubModel.of(HubFamily.LLAMA), dir.resolve("llama"));
        SplittableRandom random = new SplittableRandom(5);
        SafetensorsWriter.write(dir.resolve("inner.safetensors"), Map.of(), List.of(
                tensor(random, "inner_parts", DType.F32, 30, 12, 5),
                tensor(random, "inner_pad", DType.BF16, 50, 10),
                tensor(random, "rows_pad", DType.F32, 13, 70)));
        phi3 = Checkpoint.open(dir.resolve("phi3"));
        llama = Checkpoint.open(dir.resolve("llama"));
        inner = Checkpoint.open(dir.resolve("inner.safetensors"));
    }

    private static TensorData tensor(SplittableRandom random, String name, DType dtype, long... shape) {
        long bits = dtype.bits();
        for (long d : shape) {
            bits *= d;
        }
        byte[] data = new byte[(int) (bits / 8)];
        random.nextBytes(data);
        return new TensorData(name, dtype, shape, data);
    }

    private static Map<String, String> hostDigests(LoadPlan plan) {
        Map<String, String> out = new HashMap<>();
        try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
            for (Tensor t : w.tensors().values()) {
                out.put(t.name(), Digests.crc32(t.data()));
            }
        }
        return out;
    }

    @Test
    void everyRanksDeviceSlicesEqualTheHostLoadersWithPadRowsZeroed() throws Exception {
        List<LoadStrategy> strategies = List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT);
        Map<Checkpoint, PartitionSpec> specs = Map.of(phi3, PartitionSpec.fromConfig(phi3, false),
                llama, PartitionSpec.fromConfig(llama, false), inner, PartitionSpec.parse("inner", INNER));
        for (Map.Entry<Checkpoint, PartitionSpec> e : specs.entrySet()) {
            for (int w : new int[] {2, 4, 8}) {
                for (int r = 0; r < w; r++) {
                    LoadStrategy strategy = strategies.get((r + w) % strategies.size());
                    LoadPlan plan = new Planner().plan(e.getKey(), new LoadOptions(strategy, ReadOrder.FILE, 3, 0,
                            SMALL_STEPS, new Partitioning(r, w, e.getValue())));
                    String who = e.getValue().name() + " rank " + r + " of " + w + " (" + strategy + ")";
                    long pads = plan.slices().values().stream().mapToLong(TensorSlice::padBytes).sum();
                    try (FakeCopyEngine engine = new FakeCopyEngine(16 << 20)) {
                        try (DeviceLoader loader = new DeviceLoader(engine, TINY_RING);
                             DeviceWeights weights = loader.execute(plan)) {
                            assertEquals(hostDigests(plan), TestCheckpoint.deviceDigests(weights), who);
                            assertEquals(plan.bytes() - pads, engine.bytesToDevice(), who + ": file bytes copied once");
                            assertEquals(pads, engine.zeroedBytes(), who + ": pad rows zeroed on the device");
                        }
                        assertNull(engine.overwrittenSource());
                        assertEquals(0, engine.liveDeviceAllocations());
                    }
                    if (e.getKey() == inner && w == 8 && r == 7) {
                        assertTrue(pads > 0, "the last rank holds pad rows");
                    }
                }
            }
        }
    }
}
