package io.stload.cuda;


import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.Shape;
import io.stload.load.Loader;
import io.stload.modulepath.ApiSurface;
import io.stload.modulepath.ModuleApiMisuseTest;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadReport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The error contract of io.stload.core held for io.stload.cuda's API, without a GPU: a null the javadoc does not allow
 * is a Usage error, refused before any CUDA call. The receivers run on the CPU copy engine; {@link CudaCopyEngine}
 * needs a device to be made, so only its static methods are called here.
 */
class CudaApiMisuseTest extends ModuleApiMisuseTest {
    /** Calls whose javadoc takes null for the parameter named null. */
    private static final Set<String> TAKES_NULL = Set.of();

    /** API types with methods taking a reference that no receiver here stands for, and why. */
    private static final Map<String, String> NOT_PROBED = Map.of(
            "CopyEngine", "its one implementation here, CudaCopyEngine, needs a GPU to be made",
            "CudaCopyEngine", "needs a GPU to be made",
            "DeviceStoreMemory.EngineBuffers", "the caller's code, which the loader calls");

    @TempDir
    Path dir;
    private final List<AutoCloseable> opened = new ArrayList<>();

    CudaApiMisuseTest() {
        super(TAKES_NULL, NOT_PROBED);
    }

    @BeforeEach
    void samples() throws Exception {
        SafetensorsWriter.write(dir.resolve("model.safetensors"), null, List.of(
                new SafetensorsWriter.TensorData("w", DType.F32, new long[] {2, 2}, new byte[16])));
        Checkpoint checkpoint = open(Checkpoint.open(dir));
        LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS);
        TensorSlice slice = plan.slice("w");
        LoadReport report = open(Loader.load(checkpoint, LoadOptions.DEFAULTS)).report();
        Arena arena = open(Arena.ofShared());
        FakeCopyEngine engine = open(new FakeCopyEngine(1 << 20));
        RingOptions ring = new RingOptions(2, 4096, Pinning.HOST_ALLOC);
        DeviceLoader loader = open(new DeviceLoader(engine, ring));
        DeviceWeights weights = open(loader.execute(plan));
        StagingRing staging = open(new StagingRing(engine, ring));

        value(String.class, "w");
        value(MemorySegment.class, arena.allocate(64));
        value(List.class, List.of());
        value(Map.class, Map.of());
        value(Collection.class, List.of(slice));
        value(Runnable.class, () -> { });
        value(Throwable.class, new IllegalStateException("a sample failure"));
        value(double[].class, new double[] {1});
        value(DType.class, DType.F32);
        value(Shape.class, Shape.of(2, 2));
        value(LoadPlan.class, plan);
        value(TensorSlice.class, slice);
        value(LoadReport.class, report);
        value(CopyEngine.class, engine);
        value(RingOptions.class, ring);
        value(DeviceTensor.class, weights.tensor("w"));
        value(StagingRing.Window.class, staging.acquire());
        // Buffers of the engine's own, which no call here loads into.
        value(DeviceStoreMemory.EngineBuffers.class, new DeviceStoreMemory.EngineBuffers() {
            @Override
            public long allocate(TensorSlice s) {
                throw new UnsupportedOperationException("no load into the engine's buffers here");
            }

            @Override
            public void release(long address) {
            }
        });
        // A ring has two windows or more; an overwrite is of live tensors; a copy's source spans its rows.
        probe.arguments("new RingOptions(int, long, Pinning)", () -> new Object[] {2, 4096L, Pinning.HOST_ALLOC});
        probe.arguments("DeviceStoreMemory.overwrite(LoadPlan, Map, Runnable)",
                () -> new Object[] {plan, Map.of("w", weights.tensor("w")), (Runnable) () -> { }});
        probe.arguments("new CopyEngine.Copy(MemorySegment, long, long, long, long, long)",
                () -> new Object[] {arena.allocate(64), 0L, 64L, 1L, 64L, 64L});
        probe.arguments("new CopyEngine.Copy(MemorySegment, long, long, long, long)",
                () -> new Object[] {arena.allocate(64), 0L, 64L, 1L, 64L});

        receive(DeviceLoader.class, loader);
        receive(DeviceWeights.class, weights);
        receive(DeviceLayout.class, new DeviceLayout(List.of(slice)));
        receive(DeviceStoreMemory.class, open(new DeviceStoreMemory(engine, ring)));
        receive(StagingRing.class, staging);
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable resource : opened.reversed()) {
            resource.close();
        }
    }

    @Override
    protected List<Class<?>> apiTypes() throws IOException {
        return ApiSurface.types(DeviceLoader.class);
    }

    private <T extends AutoCloseable> T open(T resource) {
        opened.add(resource);
        return resource;
    }
}
