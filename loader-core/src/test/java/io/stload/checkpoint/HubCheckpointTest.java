package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Repo ids resolved in a hub cache, symlink containment, and waiting for (or not waiting for) a download. */
class HubCheckpointTest {
    @TempDir
    Path root;
    HubFixture hub;
    Path scratch;
    byte[] shard2;
    final AtomicLong clock = new AtomicLong();
    final List<String> log = new ArrayList<>();
    /** Runs whenever the code under test sleeps: the "peer" acts then, and time moves on. */
    Runnable duringSleep = () -> {
    };
    int sleeps;

    @BeforeEach
    void cacheWithTwoShards() throws IOException {
        hub = new HubFixture(Files.createDirectory(root.resolve("hub")));
        scratch = Files.createDirectory(root.resolve("scratch"));
        hub.addFile("model-00001-of-00002.safetensors", HubFixture.shardBytes(scratch, "a", 1, "a.weight", "a.bias"));
        shard2 = HubFixture.shardBytes(scratch, "b", 2, "b.weight");
        hub.addIndex(Map.of("a.weight", "model-00001-of-00002.safetensors", "a.bias", "model-00001-of-00002.safetensors",
                "b.weight", "model-00002-of-00002.safetensors"));
    }

    private WaitPolicy policy(Duration timeout) {
        return new WaitPolicy(timeout, clock::get, nanos -> {
            sleeps++;
            clock.addAndGet(nanos);
            duringSleep.run();
        }, log::add);
    }

    private Checkpoint resolve(String repo, Duration timeout) {
        return CheckpointSource.resolve(repo, hub.cache, policy(timeout), Map.of(), NativeAccess.get());
    }

    private StloadException rejected(String repo, ErrorKind kind) {
        StloadException e = assertThrows(StloadException.class, () -> resolve(repo, Duration.ofMinutes(1)));
        assertEquals(kind, e.kind(), e.getMessage());
        return e;
    }

    @Test
    void repoIdResolvesThroughRefsAndReportsTheCommit() throws IOException {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Checkpoint ckpt = resolve("acme/tiny", Duration.ofMinutes(1));
        assertEquals(HubFixture.COMMIT, ckpt.commit());
        assertEquals(3, ckpt.tensors().size());
        assertEquals("model-00001-of-00002.safetensors", ckpt.nameOf(ckpt.tensor("a.weight").file()));
        assertTrue(ckpt.tensor("b.weight").file().file().startsWith(hub.blobs.toRealPath()));
        assertTrue(log.getLast().contains("is commit " + HubFixture.COMMIT), log.toString());
        assertEquals(HubFixture.COMMIT, resolve("acme/tiny@" + HubFixture.COMMIT, Duration.ofMinutes(1)).commit());
    }

    @Test
    void cacheLocationFollowsFlagThenEnvironment() {
        assertEquals(Path.of("/x"), HubCache.locate(Path.of("/x"), Map.of("HF_HUB_CACHE", "/y")).root());
        assertEquals(Path.of("/y"), HubCache.locate(null, Map.of("HF_HUB_CACHE", "/y", "HF_HOME", "/z")).root());
        assertEquals(Path.of("/z/hub"), HubCache.locate(null, Map.of("HF_HOME", "/z")).root());
        assertTrue(HubCache.locate(null, Map.of()).root().endsWith(Path.of(".cache/huggingface/hub")));
    }

    @Test
    void unknownRevisionIsMissingWithTheFetchCommand() {
        StloadException e = rejected("acme/tiny@v2", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("huggingface-cli download acme/tiny --revision v2"), e.getMessage());
    }

    @Test
    void missingShardWithNoDownloadIsReportedAtOnceWithTensorsAndCommand() {
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("`b.weight`"), e.getMessage());
        assertTrue(e.getMessage().contains("huggingface-cli download acme/tiny --revision " + HubFixture.COMMIT),
                e.getMessage());
        assertEquals(0, sleeps);
    }

    @Test
    void symlinkOutOfBlobsIsUnsafeAndNeverOpened() throws IOException {
        Path outside = Files.write(root.resolve("outside.safetensors"), shard2);
        Files.createSymbolicLink(hub.snapshot.resolve("model-00002-of-00002.safetensors"), outside);
        rejected("acme/tiny", ErrorKind.UnsafePath);
    }

    @Test
    void danglingSymlinkIsMissingAndNamesItsTarget() throws IOException {
        hub.link("model-00002-of-00002.safetensors", "f".repeat(64));
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("dangling symlink"), e.getMessage());
    }

    @Test
    void plainDirectoryRefusesSymlinksLeavingIt() throws IOException {
        Path dir = Files.createDirectory(root.resolve("plain"));
        Files.createSymbolicLink(dir.resolve("model.safetensors"), hub.blobs.resolve(HubFixture.sha256(shard2)));
        Files.write(hub.blobs.resolve(HubFixture.sha256(shard2)), shard2);
        StloadException e = assertThrows(StloadException.class, () -> Checkpoint.open(dir));
        assertEquals(ErrorKind.UnsafePath, e.kind(), e.getMessage());
    }

    @Test
    void snapshotDirectoryGivenAsAPathMayLinkIntoItsBlobs() throws IOException {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        assertEquals(3, Checkpoint.open(hub.snapshot).tensors().size());
    }

    @Test
    void heldDownloadLockIsWaitedForThenTheShardSetIsReadAgain() throws IOException {
        Path lockFile = Files.createDirectories(hub.cache.resolve(".locks/models--acme--tiny")).resolve("x.lock");
        Files.createFile(lockFile);
        HeldLock download = NativeAccess.get().tryLock(lockFile, true);
        duringSleep = () -> {
            if (sleeps == 5) {
                try {
                    hub.addFile("model-00002-of-00002.safetensors", shard2);
                    download.close();
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            }
        };
        Checkpoint ckpt = resolve("acme/tiny", Duration.ofMinutes(1));
        assertEquals(3, ckpt.tensors().size());
        assertEquals(5, sleeps);
        assertTrue(log.getFirst().contains("x.lock held"), log.toString());
    }

    @Test
    void growingIncompleteIsWaitedForUntilTheTimeout() throws IOException {
        Path partial = hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete");
        Files.write(partial, new byte[1]);
        duringSleep = () -> {
            try {
                Files.write(partial, new byte[(int) Files.size(partial) + 1]);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        StloadException e = assertThrows(StloadException.class, () -> resolve("acme/tiny", Duration.ofSeconds(30)));
        assertEquals(ErrorKind.WaitTimeout, e.kind(), e.getMessage());
        assertTrue(clock.get() >= Duration.ofSeconds(30).toNanos());
        // A line at the start and about every 10 s, not one per backoff step.
        assertTrue(log.size() >= 3 && log.size() <= 4, log.toString());
        assertTrue(Files.exists(partial), "never deleted");
    }

    @Test
    void abandonedIncompleteIsReportedAsSuch() throws IOException {
        Path partial = Files.write(hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete"), new byte[10]);
        Files.setLastModifiedTime(partial, FileTime.fromMillis(System.currentTimeMillis() - 3_600_000));
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("interrupted download"), e.getMessage());
        assertEquals(0, sleeps);
        assertTrue(Files.exists(partial));
    }

    @Test
    void stalledIncompleteIsCalledAbandonedAfterItStopsChanging() throws IOException {
        Files.write(hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete"), new byte[10]);
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("interrupted download"), e.getMessage());
        assertTrue(clock.get() >= CheckpointSource.STALL_AFTER.toNanos());
    }

    @Test
    void deepVerifyFindsACorruptedBlobAndRecordsTheResultForOtherRanks() throws Exception {
        Path blob = hub.addFile("model-00002-of-00002.safetensors", shard2).toRealPath();
        CheckpointVerifier.Result clean = CheckpointVerifier.verify("acme/tiny", hub.cache, true, 2,
                policy(Duration.ofMinutes(1)), CheckpointVerifier.HashProgress.NONE, Map.of(), NativeAccess.get());
        assertTrue(clean.clean(), clean.problems().toString());
        byte[] corrupt = shard2.clone();
        corrupt[corrupt.length - 1] ^= 1;
        Files.write(blob, corrupt);
        CheckpointVerifier.Result bad = CheckpointVerifier.verify("acme/tiny", hub.cache, true, 2,
                policy(Duration.ofMinutes(1)), CheckpointVerifier.HashProgress.NONE, Map.of(), NativeAccess.get());
        assertEquals(1, bad.problems().size(), bad.problems().toString());
        assertEquals(ErrorKind.DigestMismatch, bad.problems().getFirst().kind());
        assertFalse(log.stream().anyMatch(l -> l.contains("reusing")), "a rewritten blob is not vouched for by an old record");
        CheckpointVerifier.Result again = CheckpointVerifier.verify("acme/tiny", hub.cache, true, 2,
                policy(Duration.ofMinutes(1)), CheckpointVerifier.HashProgress.NONE, Map.of(), NativeAccess.get());
        assertEquals(bad.problems(), again.problems());
        assertTrue(log.getLast().contains("reusing"), log.toString());
    }
}
