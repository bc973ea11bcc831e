package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hub cache someone else can write: lock files that are no locks, and a {@code blobs/} folder that is a link
 * out of the repo. Time is a fake clock: a wait
 * that should not happen shows as a sleep, never as a slow test.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostileHubCacheTest {
    private static final String SHARD1 = "model-00001-of-00002.safetensors";
    private static final String SHARD2 = "model-00002-of-00002.safetensors";

    @TempDir
    Path root;
    HubFixture hub;
    Path scratch;
    byte[] shard2;
    final AtomicLong clock = new AtomicLong();
    final List<String> log = new ArrayList<>();
    Runnable duringSleep = () -> {
    };
    int sleeps;

    @BeforeEach
    void cacheWithOneOfTwoShards() throws IOException {
        hub = new HubFixture(Files.createDirectory(root.resolve("hub")));
        scratch = Files.createDirectory(root.resolve("scratch"));
        hub.addFile(SHARD1, HubFixture.shardBytes(scratch, "a", 1, "a.weight", "a.bias"));
        shard2 = HubFixture.shardBytes(scratch, "b", 2, "b.weight");
        hub.addIndex(Map.of("a.weight", SHARD1, "a.bias", SHARD1, "b.weight", SHARD2));
    }

    private WaitPolicy policy() {
        return new WaitPolicy(Duration.ofMinutes(10), clock::get, nanos -> {
            sleeps++;
            clock.addAndGet(nanos);
            duringSleep.run();
        }, log::add);
    }

    private Path locks() throws IOException {
        return Files.createDirectories(hub.cache.resolve(".locks/models--acme--tiny"));
    }

    private Checkpoint resolve(NativeAccess os) {
        return CheckpointSource.resolve(HubFixture.REPO, hub.cache, policy(), Map.of(), os);
    }

    private CheckpointVerifier.Result deepVerify() throws InterruptedException {
        return CheckpointVerifier.verify(HubFixture.REPO, hub.cache, true, 2, policy(),
                CheckpointVerifier.HashProgress.NONE, Map.of(), NativeAccess.get());
    }

    @Test
    void aFifoSymlinkOrFolderNamedLikeADownloadLockIsNoDownloadAndAMissingShardFailsAtOnce() throws Exception {
        Path locks = locks();
        HostileFilesTest.mkfifo(locks.resolve("fifo.lock"));
        Files.createSymbolicLink(locks.resolve("dangling.lock"), locks.resolve("gone"));
        Files.createSymbolicLink(locks.resolve("loop.lock"), locks.resolve("loop.lock"));
        Files.createSymbolicLink(locks.resolve("elsewhere.lock"), Files.createFile(root.resolve("some-file")));
        Files.createDirectory(locks.resolve("folder.lock"));
        HostileFilesTest.mkfifo(hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete"));
        StloadException e = assertThrows(StloadException.class, () -> resolve(NativeAccess.get()));
        assertEquals(ErrorKind.MissingShard, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains(SHARD2), e.getMessage());
        assertEquals(0, sleeps, "nothing there is a download: " + log);
    }

    @Test
    void aLockReplacedByAFifoBetweenListingAndProbeIsNoDownload() throws Exception {
        Path lock = Files.createFile(locks().resolve("x.lock"));
        NativeAccess replacedAtProbe = new DelegatingNativeAccess(NativeAccess.get()) {
            @Override
            public HeldLock tryLock(Path file, boolean exclusive) throws IOException {
                if (file.equals(lock) && Files.isRegularFile(lock)) {
                    Files.delete(lock);
                    try {
                        HostileFilesTest.mkfifo(lock);
                    } catch (InterruptedException ie) {
                        throw new AssertionError(ie);
                    }
                }
                return real.tryLock(file, exclusive);
            }
        };
        StloadException e = assertThrows(StloadException.class, () -> resolve(replacedAtProbe));
        assertEquals(ErrorKind.MissingShard, e.kind(), e.getMessage());
        assertEquals(0, sleeps, log.toString());
    }

    @Test
    void aRegularLockNobodyHoldsIsNoDownloadEitherButAHeldOneIsWaitedFor() throws Exception {
        Path lock = Files.createFile(locks().resolve("x.lock"));
        assertEquals(ErrorKind.MissingShard, assertThrows(StloadException.class, () -> resolve(NativeAccess.get())).kind());
        assertEquals(0, sleeps);
        HeldLock download = NativeAccess.get().tryLock(lock, true);
        duringSleep = () -> {
            try {
                hub.addFile(SHARD2, shard2);
                download.close();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        assertEquals(3, resolve(NativeAccess.get()).tensors().size());
        assertEquals(1, sleeps);
    }

    @Test
    void aBlobsFolderThatLinksOutOfTheRepoIsRefusedWhicheverWayTheSnapshotIsNamed() throws Exception {
        hub.addFile(SHARD2, shard2);
        // Somewhere else on the machine: a valid checkpoint file, which the snapshot's links now point at.
        Path elsewhere = Files.createDirectory(root.resolve("elsewhere"));
        try (var blobs = Files.list(hub.blobs)) {
            for (Path b : blobs.toList()) {
                Files.copy(b, elsewhere.resolve(b.getFileName()));
            }
        }
        Path realBlobs = hub.repoDir.resolve("blobs-moved");
        Files.move(hub.blobs, realBlobs);
        for (Path target : List.of(elsewhere, Path.of("/"))) {
            Files.deleteIfExists(hub.blobs);
            Files.createSymbolicLink(hub.blobs, target);
            StloadException e = assertThrows(StloadException.class, () -> resolve(NativeAccess.get()));
            assertEquals(ErrorKind.UnsafePath, e.kind(), e.getMessage());
            assertEquals(hub.blobs, e.file());
            assertTrue(e.getMessage().contains("outside the repo folder"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
            e = assertThrows(StloadException.class, () -> Checkpoint.open(hub.snapshot));
            assertEquals(ErrorKind.UnsafePath, e.kind(), e.getMessage());
            CheckpointVerifier.Result r = deepVerify();
            assertEquals(List.of(ErrorKind.UnsafePath), r.problems().stream().map(Problem::kind).toList(),
                    r.problems().toString());
        }
        Files.delete(hub.blobs);
        Files.createSymbolicLink(hub.blobs, hub.repoDir.resolve("gone"));
        assertEquals(ErrorKind.UnsafePath, assertThrows(StloadException.class, () -> resolve(NativeAccess.get())).kind());
        // A link that stays inside the repo folder holds nothing outside it.
        Files.delete(hub.blobs);
        Files.createSymbolicLink(hub.blobs, Path.of("blobs-moved"));
        assertEquals(3, resolve(NativeAccess.get()).tensors().size());
        assertEquals(3, Checkpoint.open(hub.snapshot).tensors().size());
    }
}
