package io.stload.store;

import static io.stload.store.FilledCheckpoints.A;
import static io.stload.store.FilledCheckpoints.B;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.store.ReloadDelta.Reason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Which tensors a reload reads, which it carries over, why, and what carrying over shares. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CarryOverTest {
    @TempDir
    Path dir;

    private static Map<Reason, Integer> only(Reason reason, int count) {
        return Map.of(reason, count);
    }

    @Test
    void withoutDigestsTheSameFileCarriesOverAndACopyOrAnotherFileIsRead() throws IOException {
        Path a = FilledCheckpoints.write(dir, "a.safetensors", A);
        Path copy = Files.copy(a, dir.resolve("copy.safetensors"));
        Path b = FilledCheckpoints.write(dir, "b.safetensors", B);
        int n = FilledCheckpoints.NAMES.size();
        try (WeightStore<Tensor> store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            long one = store.memoryBytes();
            ReloadResult same = store.reload(a, ReloadOptions.IMMEDIATE);
            assertEquals(only(Reason.SAME_FILE, n), same.delta().tensorsByReason(), same::toString);
            assertEquals(0, same.delta().bytesFromStorage());
            assertEquals(one, store.memoryBytes(), "carried over: shared, not copied");
            // Same bytes, but another file: without digests nothing says they are the same, so they are read.
            ReloadResult copied = store.reload(copy, ReloadOptions.IMMEDIATE);
            assertEquals(only(Reason.FILE_CHANGED, n), copied.delta().tensorsByReason(), copied::toString);
            ReloadResult other = store.reload(b, ReloadOptions.inPlace(Duration.ofSeconds(30)));
            assertEquals(only(Reason.FILE_CHANGED, n), other.delta().tensorsByReason(), other::toString);
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals(4, lease.version());
                lease.tensors().values().forEach(t -> FilledCheckpoints.assertFilled(t, B));
            }
        }
    }

    @Test
    void aFileRewrittenInPlaceIsReadAgain() throws IOException {
        Path a = FilledCheckpoints.write(dir, "a.safetensors", A);
        try (WeightStore<Tensor> store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            FilledCheckpoints.write(dir, "a.safetensors", B); // renamed over a: another inode
            ReloadResult r = store.reload(a, ReloadOptions.IMMEDIATE);
            assertEquals(only(Reason.FILE_CHANGED, FilledCheckpoints.NAMES.size()), r.delta().tensorsByReason());
            try (Lease<Tensor> lease = store.lease()) {
                lease.tensors().values().forEach(t -> FilledCheckpoints.assertFilled(t, B));
            }
        }
    }

    @Test
    void besideCarriedTensorsShareTheirMemoryUntilEveryVersionHoldingThemIsGone() throws IOException {
        for (int k = 1; k <= 4; k++) {
            StepCheckpoints.write(dir.resolve("step-" + k), k);
        }
        try (WeightStore<Tensor> store = WeightStore.open(dir.resolve("step-1"), LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            long first = store.memoryBytes();
            Lease<Tensor> old = store.lease();
            ReloadResult two = store.reload(dir.resolve("step-2"), ReloadOptions.IMMEDIATE);
            assertEquals(StepCheckpoints.changed(2).size(), two.delta().tensorsRead());
            long second = store.memoryBytes() - first;
            assertTrue(second > 0 && second < first, "only the changed tensors are new: " + second);
            old.close();
            assertEquals(first + second, store.memoryBytes(), "step 1's memory still holds step 2's other tensors");
            assertTrue(store.reload(dir.resolve("step-3"), ReloadOptions.IMMEDIATE).reloaded());
            assertTrue(store.reload(dir.resolve("step-4"), ReloadOptions.IMMEDIATE).reloaded());
            // Every tensor of step 1 was rewritten by step 4: its memory is gone, the three deltas remain.
            assertTrue(store.memoryBytes() < first + second, "step 1's memory was freed: " + store.memoryBytes());
            assertEquals(java.util.List.of(), ReloadMatrix.read(store, ReloadMatrix.host()));
        }
    }

    @Test
    void everyTensorIsReadWhenCarryingOverIsOff() throws IOException {
        StepCheckpoints.write(dir.resolve("step-1"), 1);
        try (WeightStore<Tensor> store = WeightStore.open(dir.resolve("step-1"), LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
            ReloadResult r = store.reload(dir.resolve("step-1"),
                    ReloadOptions.IMMEDIATE.withCarryOver(ReloadOptions.CarryOver.NONE));
            assertEquals(only(Reason.CARRY_OVER_OFF, StepCheckpoints.names().size()), r.delta().tensorsByReason());
            assertEquals(1.0, r.delta().readShare());
        }
    }

    @Test
    void theRankAndStrategyMayChangePerReloadAndAMovedSliceIsRead() throws IOException {
        Path step1 = dir.resolve("step-1");
        StepCheckpoints.write(step1, 1);
        LoadOptions rank0 = LoadOptions.DEFAULTS.withPartitioning(new Partitioning(0, 2, PartitionSpec.defaults()));
        LoadOptions rank1 = LoadOptions.DEFAULTS.withPartitioning(new Partitioning(1, 2, PartitionSpec.defaults()))
                .withStrategy(LoadStrategy.DIRECT);
        try (WeightStore<Tensor> store = WeightStore.open(WeightSource.path(step1), StoreMemory.host(), rank0,
                Long.MAX_VALUE)) {
            ReloadResult r = store.reload(WeightSource.path(step1), ReloadOptions.inPlace(Duration.ofSeconds(30))
                    .withLoadOptions(rank1));
            assertTrue(r.reloaded(), r::toString);
            Map<Reason, Integer> expected = new LinkedHashMap<>();
            expected.put(Reason.SLICE_CHANGED, 6); // everything split: embeddings, projections, head
            expected.put(Reason.SAME_DIGEST, 1); // the replicated norm
            assertEquals(expected, new LinkedHashMap<>(r.delta().tensorsByReason()), r::toString);
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals(32, lease.tensor("model.embed_tokens.weight").shape().dim(0), "rank 1's half");
            }
            // The next reload without options keeps rank 1: the same step carries everything over.
            ReloadResult again = store.reload(step1, ReloadOptions.IMMEDIATE);
            assertEquals(only(Reason.SAME_DIGEST, 7), again.delta().tensorsByReason(), again::toString);
        }
    }

    @Test
    void aLeaseLooksTensorsUpAsEveryTypeHoldingTensorsDoesAndNamesWhatItPins() throws IOException {
        Path a = FilledCheckpoints.write(dir, "a.safetensors", A);
        try (WeightStore<Tensor> store = WeightStore.open(a, LoadOptions.DEFAULTS, Long.MAX_VALUE);
             Lease<Tensor> lease = store.lease()) {
            assertEquals("layers.0.norm", lease.tensor("layers.0.norm").name());
            assertEquals(lease.tensor("layers.0.norm"), lease.find("layers.0.norm").orElseThrow());
            assertTrue(lease.find("layers.0.nrom").isEmpty());
            StloadException e = assertThrows(StloadException.class, () -> lease.tensor("layers.0.nrom"));
            assertEquals(ErrorKind.TensorNotFound, e.kind());
            assertTrue(e.getMessage().contains("`layers.0.nrom`"), e.getMessage());
            SourceVersion pinned = lease.source();
            assertEquals(a.toString(), pinned.source());
            assertTrue(pinned.commit().isEmpty());
            String version = pinned.files().get(a.toString());
            assertTrue(version != null && version.contains(Files.size(a) + " bytes"), pinned.toString());
            assertEquals(pinned, store.source());
        }
    }

    @Test
    void aLeaseOfAHubRevisionNamesItsCommit() throws Exception {
        ReloadMatrix.HubRepo hub = new ReloadMatrix.HubRepo(dir.resolve("hub"));
        WeightSource step1 = hub.publish(1);
        try (WeightStore<Tensor> store = WeightStore.open(step1, StoreMemory.host(), LoadOptions.DEFAULTS,
                Long.MAX_VALUE)) {
            WeightSource step2 = hub.publish(2);
            ReloadResult r = store.reload(step2, ReloadOptions.IMMEDIATE);
            assertTrue(r.reloaded(), r::toString);
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals("acme/policy@step-2", lease.source().source());
                assertEquals(ReloadMatrix.sha256("commit of step 2".getBytes(java.nio.charset.StandardCharsets.UTF_8))
                        .substring(0, 40), lease.source().commit().orElseThrow());
                assertEquals(3, lease.source().files().size(), "three shards: " + lease.source());
            }
        }
    }
}
