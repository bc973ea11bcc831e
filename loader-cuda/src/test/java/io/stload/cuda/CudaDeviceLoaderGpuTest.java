package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.load.Digests;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * On a real CUDA device. Where none can be opened, each test is reported skipped (an assumption per test, so
 * CI shows them, not zero tests), and fails instead under {@code -Dstload.requireGpu=true}, which the GPU run
 * sets: broken bindings on a GPU machine must not look like a pass.
 */
class CudaDeviceLoaderGpuTest {
    /** Several windows per shard, and tensors larger than a window. */
    private static final RingOptions RING = new RingOptions(4, 1 << 20, Pinning.HOST_ALLOC);

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static Map<String, String> reference;

    static final String REQUIRE_GPU = "stload.requireGpu";

    @BeforeEach
    void deviceAndCheckpoint() throws Exception {
        Optional<String> why = CudaCopyEngine.unavailableReason();
        if (why.isPresent() && Boolean.getBoolean(REQUIRE_GPU)) {
            fail("-D" + REQUIRE_GPU + "=true, but no CUDA device can be opened: " + why.get());
        }
        assumeTrue(why.isEmpty(), () -> "no CUDA device: " + why.orElse(""));
        synchronized (CudaDeviceLoaderGpuTest.class) {
            if (checkpoint == null) {
                checkpoint = TestCheckpoint.generate(dir, 48 << 20);
                reference = Digests.ofFiles(checkpoint);
            }
        }
    }

    /** One load on a loader of its own, closed (its pinned ring freed) before returning. */
    private static DeviceWeights load(CopyEngine gpu, LoadStrategy s, RingOptions ring) {
        try (DeviceLoader loader = new DeviceLoader(gpu, ring)) {
            return loader.execute(new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withStrategy(s).withThreads(4)));
        }
    }

    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT", "AUTO"})
    void digestsOfEveryTensorCopiedBackEqualTheReference(LoadStrategy strategy) throws Exception {
        for (Pinning pinning : Pinning.values()) {
            try (CudaCopyEngine gpu = CudaCopyEngine.open(0, pinning);
                 DeviceWeights w = load(gpu, strategy, new RingOptions(RING.windows(), RING.windowBytes(), pinning))) {
                assertEquals(reference, TestCheckpoint.deviceDigests(w), pinning.toString());
            }
        }
    }

    /** o_proj and down_proj split on dim 1 under the default rules: strided runs, copied with cudaMemcpy2DAsync. */
    @ParameterizedTest
    @EnumSource(value = LoadStrategy.class, names = {"MMAP", "PREFETCH", "DIRECT"})
    void aTensorParallelRanksSlicesOnTheDeviceEqualTheHostLoadersSlices(LoadStrategy strategy) throws Exception {
        for (int rank : new int[] {0, 3}) {
            LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withStrategy(strategy).withThreads(4)
                    .withPartitioning(new Partitioning(rank, 4, PartitionSpec.defaults())));
            Map<String, String> host = new HashMap<>();
            try (LoadedWeights w = new Loader().execute(plan, LoadListener.NONE)) {
                w.tensors().values().forEach(t -> host.put(t.name(), Digests.crc32(t.data())));
            }
            try (CudaCopyEngine gpu = CudaCopyEngine.open(0, Pinning.HOST_ALLOC);
                 DeviceLoader loader = new DeviceLoader(gpu, RING);
                 DeviceWeights w = loader.execute(plan)) {
                assertEquals(host, TestCheckpoint.deviceDigests(w), "rank " + rank + " of 4");
            }
        }
    }

    @Test
    void twentyLoadsLeakNeitherPinnedNorDeviceMemory() {
        try (CudaCopyEngine gpu = CudaCopyEngine.open(0, Pinning.HOST_ALLOC)) {
            load(gpu, LoadStrategy.MMAP, RING).close(); // first load: context and allocator warm-up
            long baseline = gpu.freeDeviceBytes();
            for (int i = 0; i < 20; i++) {
                LoadStrategy s = LoadStrategy.values()[1 + i % 3];
                load(gpu, s, RING).close();
                assertEquals(0, gpu.livePinnedBuffers(), "pinned buffers after load " + i);
                assertEquals(baseline, gpu.freeDeviceBytes(), "free device memory after load " + i);
            }
        }
    }

    @Test
    void probeMeasuresPinnedBandwidth() throws Exception {
        try (CudaCopyEngine gpu = CudaCopyEngine.open(0, Pinning.HOST_ALLOC)) {
            BandwidthProbe.Result r = BandwidthProbe.run(gpu, 256 << 20, 3);
            // Zero would mean the events timed nothing: broken timing, not a slow bus.
            assertTrue(r.best() > 0 && r.median() > 0, r.best() + " " + r.median());
            assertEquals(0, gpu.livePinnedBuffers());
        }
    }
}
