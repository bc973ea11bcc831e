package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.plan.LoadOptions;
import io.stload.plan.TensorSlice;
import io.stload.store.Lease;
import io.stload.store.ReloadMatrix;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadOptions.Mode;
import io.stload.store.ReloadResult;
import io.stload.store.ReloadResult.Outcome;
import io.stload.store.StepCheckpoints;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CUDA destination under a weight store, through its test seam (the CPU copy engine): the reload matrix with
 * device memory stload allocates and with buffers the engine owns, from a local folder and a hub revision still
 * downloading, beside and in place; and copy failures, which leave the documented state.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeviceReloadTest {
    /** Smaller than most tensors of the steps, so that they stream through the ring in pieces. */
    private static final RingOptions SMALL_RING = new RingOptions(3, 4096, Pinning.HOST_ALLOC);
    private static final Duration LONG = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    /** Device memory on the CPU copy engine, stload's or the engine's own buffers. */
    static final class OnDevice implements ReloadMatrix.MemoryUnderTest<DeviceTensor> {
        final FakeCopyEngine engine = new FakeCopyEngine(64 << 20);
        final boolean engineOwned;
        final Map<Long, Long> engineBuffers = new ConcurrentHashMap<>();
        DeviceStoreMemory memory;

        OnDevice(boolean engineOwned) {
            this.engineOwned = engineOwned;
        }

        @Override
        public StoreMemory<DeviceTensor> memory() {
            memory = !engineOwned ? new DeviceStoreMemory(engine, SMALL_RING)
                    : DeviceStoreMemory.engineBuffers(engine, SMALL_RING, new DeviceStoreMemory.EngineBuffers() {
                        @Override
                        public long allocate(TensorSlice slice) {
                            try {
                                long a = engine.allocateDevice(Math.max(1, slice.byteSize()));
                                engineBuffers.put(a, slice.byteSize());
                                return a;
                            } catch (java.io.IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                        }

                        @Override
                        public void release(long address) {
                            engineBuffers.remove(address);
                            engine.freeDevice(address);
                        }
                    });
            return memory;
        }

        @Override
        public byte[] bytes(DeviceTensor t) {
            return engine.deviceBytes(t.devicePointer(), t.byteSize()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }

        @Override
        public long liveAllocations() {
            return engine.liveDeviceAllocations();
        }

        @Override
        public String toString() {
            return engineOwned ? "the engine's device buffers" : "device memory";
        }
    }

    private void matrix(boolean engineOwned, ReloadMatrix.SourceUnderTest source, Mode mode) throws Exception {
        OnDevice device = new OnDevice(engineOwned);
        try (device.engine) {
            ReloadMatrix.run(device, source, mode);
            device.memory.close();
            assertNull(device.engine.overwrittenSource(), "no staging window was refilled before its copy ran");
            assertEquals(0, device.engine.liveStagingBuffers());
            assertEquals(0, device.engine.liveDeviceAllocations());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void deviceMemoryFromALocalFolder(Mode mode) throws Exception {
        matrix(false, ReloadMatrix.local(dir), mode);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void theEnginesBuffersFromALocalFolder(Mode mode) throws Exception {
        matrix(true, ReloadMatrix.local(dir), mode);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void deviceMemoryFromAHubRevisionStillDownloading(Mode mode) throws Exception {
        matrix(false, ReloadMatrix.hub(dir.resolve("hub")), mode);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void theEnginesBuffersFromAHubRevisionStillDownloading(Mode mode) throws Exception {
        matrix(true, ReloadMatrix.hub(dir.resolve("hub")), mode);
    }

    /** Every lease's device bytes are all of step {@code k}. */
    private static void assertServes(WeightStore<DeviceTensor> store, OnDevice device, long version, int step) {
        try (Lease<DeviceTensor> lease = store.lease()) {
            assertEquals(version, lease.version());
            lease.tensors().forEach((name, t) -> {
                for (byte b : device.bytes(t)) {
                    assertEquals(StepCheckpoints.fill(name, step), b, name);
                }
            });
        }
    }

    @Test
    void inPlaceACopyToTheDeviceFailingPartWayLeavesTheStoreFailedUntilAReloadSucceeds() throws Exception {
        Path step1 = dir.resolve("step-1");
        Path step2 = dir.resolve("step-2");
        StepCheckpoints.write(step1, 1);
        StepCheckpoints.write(step2, 2);
        OnDevice device = new OnDevice(true);
        try (device.engine; DeviceStoreMemory memory = (DeviceStoreMemory) device.memory();
             WeightStore<DeviceTensor> store = WeightStore.open(WeightSource.path(step1), memory, LoadOptions.DEFAULTS,
                     Long.MAX_VALUE)) {
            long buffers = device.engineBuffers.size();
            for (ReloadOptions how : java.util.List.of(ReloadOptions.inPlace(LONG),
                    ReloadOptions.inPlace(LONG).withStagingBytes(0))) {
                device.engine.failCopy(device.engine.copiesSubmitted() + 1); // the second copy of this reload
                ReloadResult r = store.reload(step2, how);
                assertEquals(Outcome.STORE_FAILED, r.outcome(), r::toString);
                assertEquals(ErrorKind.Io, r.kind().orElseThrow(), r::toString);
                StloadException refused = assertThrows(StloadException.class, store::lease);
                assertTrue(refused.getMessage().contains("fake copy"), refused.getMessage());
                device.engine.heal();
                ReloadResult again = store.reload(step2, ReloadOptions.inPlace(LONG));
                assertTrue(again.reloaded(), again::toString);
                assertEquals(StepCheckpoints.names().size(), again.delta().tensorsRead(), "every tensor, after a failure");
                assertServes(store, device, again.version(), 2);
                assertEquals(buffers, device.engineBuffers.size(), "in place: the engine's buffers, no others");
                assertTrue(store.reload(step1, ReloadOptions.inPlace(LONG)).reloaded());
            }
        }
        assertEquals(0, device.engine.liveDeviceAllocations());
        assertEquals(0, device.engine.liveStagingBuffers());
    }

    @Test
    void besideACopyFailingFreesTheNewDeviceMemoryAndTheOldVersionServes() throws Exception {
        Path step1 = dir.resolve("step-1");
        Path step2 = dir.resolve("step-2");
        StepCheckpoints.write(step1, 1);
        StepCheckpoints.write(step2, 2);
        OnDevice device = new OnDevice(false);
        try (device.engine; DeviceStoreMemory memory = (DeviceStoreMemory) device.memory();
             WeightStore<DeviceTensor> store = WeightStore.open(WeightSource.path(step1), memory, LoadOptions.DEFAULTS,
                     Long.MAX_VALUE)) {
            long held = store.memoryBytes();
            device.engine.failCopy(device.engine.copiesSubmitted() + 1);
            ReloadResult r = store.reload(step2, ReloadOptions.IMMEDIATE);
            assertEquals(Outcome.LOAD_FAILED, r.outcome(), r::toString);
            assertEquals(ErrorKind.Io, r.kind().orElseThrow());
            assertEquals(held, store.memoryBytes());
            assertEquals(1, device.engine.liveDeviceAllocations(), "the failed load's allocation was freed");
            device.engine.heal();
            assertServes(store, device, 1, 1);
            assertTrue(store.reload(step2, ReloadOptions.IMMEDIATE).reloaded());
            assertServes(store, device, 2, 2);
        }
        assertEquals(0, device.engine.liveDeviceAllocations());
    }
}
