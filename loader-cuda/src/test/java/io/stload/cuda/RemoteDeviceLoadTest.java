package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.LocalRemoteFolder;
import io.stload.load.Digests;
import io.stload.plan.DecisionRule;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint in a remote folder reaches GPU memory through the same engine path as a host load: strategy
 * {@code s3}, positional reads of the folder's objects into the staging ring.
 */
class RemoteDeviceLoadTest {
    private static final RingOptions SMALL_RING = new RingOptions(3, 16 << 10, Pinning.HOST_ALLOC);

    @TempDir
    Path dir;

    @Test
    void aRemoteCheckpointLoadsIntoDeviceMemoryThroughTheStagingRing() throws Exception {
        Map<String, String> reference = Digests.ofFiles(TestCheckpoint.generate(dir, 3 << 20));
        LocalRemoteFolder folder = new LocalRemoteFolder(dir, "remote://test/", 4, 64 << 10, 4096);
        LoadPlan plan = new Planner().plan(Checkpoint.open(folder, null), LoadOptions.DEFAULTS.withThreads(3));
        plan.files().forEach(f -> {
            assertEquals(LoadStrategy.S3, f.strategy());
            assertEquals(DecisionRule.REMOTE, f.decision().rule());
        });
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20)) {
            try (DeviceLoader loader = new DeviceLoader(engine, SMALL_RING);
                 DeviceWeights w = loader.execute(plan)) {
                assertEquals(reference, TestCheckpoint.deviceDigests(w));
                assertTrue(w.report().load().bytesRead() >= plan.bytes(), w.report().load().toString());
            }
            assertEquals(0, engine.liveStagingBuffers());
        }
        assertTrue(folder.bytesRead.get() >= plan.bytes(), "read through the folder's sources");
    }
}
