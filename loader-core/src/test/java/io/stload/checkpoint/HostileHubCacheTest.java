package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import io.stload.testing.ChildJvm;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hub cache someone else can write: lock files that are no locks, a {@code blobs/} folder that is a link out
 * of the repo, and deep-check records forged by whoever can write the lock file. Time is a fake clock: a wait
 * that should not happen shows as a sleep, never as a slow test.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostileHubCacheTest {

    @TempDir
    Path root;
    HubFixture hub;
    Path scratch;
    byte[] shard2;
    final FakeClock time = new FakeClock();

    @BeforeEach
    void cacheWithOneOfTwoShards() throws IOException {
        hub = new HubFixture(Files.createDirectory(root.resolve("hub")));
        scratch = Files.createDirectory(root.resolve("scratch"));
        hub.addFile(HubFixture.SHARD1, HubFixture.shardBytes(scratch, "a", 1, "a.weight", "a.bias"));
        shard2 = HubFixture.shardBytes(scratch, "b", 2, "b.weight");
        hub.addIndex(Map.of("a.weight", HubFixture.SHARD1, "a.bias", HubFixture.SHARD1, "b.weight", HubFixture.SHARD2));
    }

    private WaitPolicy policy() {
        return time.policy(Duration.ofMinutes(10));
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

    private Path deepCheckLock() throws IOException {
        return locks().resolve("stload-deep-check-" + HubFixture.COMMIT + ".lock");
    }

    /** Adds the second shard and damages one byte of its tensor data: same size, valid header, wrong sha256. */
    private Path corruptedSecondShard() throws IOException {
        Path blob = hub.addFile(HubFixture.SHARD2, shard2).toRealPath();
        try (FileChannel ch = FileChannel.open(blob, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) ~shard2[shard2.length - 1]}), shard2.length - 1);
        }
        return blob;
    }

    /** What a deep check of the fixture, as it is now, records its result under. */
    private String fingerprint() throws IOException {
        List<Path> blobs = new ArrayList<>();
        for (String shard : List.of(HubFixture.SHARD1, HubFixture.SHARD2)) {
            blobs.add(hub.snapshot.resolve(shard).toRealPath());
        }
        return DeepCheckLock.fingerprint(blobs.stream().sorted().toList());
    }

    private static void assertOnlyMismatchIn(CheckpointVerifier.Result r, Path blob) {
        assertEquals(1, r.problems().size(), r.problems().toString());
        assertEquals(ErrorKind.DigestMismatch, r.problems().getFirst().kind(), r.problems().toString());
        assertEquals(blob, r.problems().getFirst().file());
    }

    // --- lock files that are no locks (D5) ---

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
        assertTrue(e.getMessage().contains(HubFixture.SHARD2), e.getMessage());
        assertEquals(0, time.sleeps, "nothing there is a download: " + time.log);
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
        assertEquals(0, time.sleeps, time.log.toString());
    }

    @Test
    void aRegularLockNobodyHoldsIsNoDownloadEitherButAHeldOneIsWaitedFor() throws Exception {
        Path lock = Files.createFile(locks().resolve("x.lock"));
        assertEquals(ErrorKind.MissingShard, assertThrows(StloadException.class, () -> resolve(NativeAccess.get())).kind());
        assertEquals(0, time.sleeps);
        HeldLock download = NativeAccess.get().tryLock(lock, true);
        time.duringSleep = () -> {
            try {
                hub.addFile(HubFixture.SHARD2, shard2);
                download.close();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        assertEquals(3, resolve(NativeAccess.get()).tensors().size());
        assertEquals(1, time.sleeps);
    }

    // --- blobs/ that leads out of the repo (D11) ---

    @Test
    void aBlobsFolderThatLinksOutOfTheRepoIsRefusedWhicheverWayTheSnapshotIsNamed() throws Exception {
        hub.addFile(HubFixture.SHARD2, shard2);
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

    // --- a lock file that is no lock: check without coordination (D23) ---

    @Test
    void aFifoAsTheDeepCheckLockIsCheckedWithoutCoordination() throws Exception {
        Path blob = corruptedSecondShard();
        HostileFilesTest.mkfifo(deepCheckLock());
        assertOnlyMismatchIn(deepVerify(), blob);
        assertTrue(time.log.stream().anyMatch(l -> l.contains("not a regular file") && l.contains("checking without "
                + "coordination")), time.log.toString());
        assertEquals(0, time.sleeps);
    }

    @Test
    void aLockReplacedByAFifoWhileWaitingIsCheckedWithoutCoordination() throws Exception {
        Path blob = corruptedSecondShard();
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        HeldLock peer = NativeAccess.get().tryLock(lock, true);
        time.duringSleep = () -> {
            try {
                peer.close();
                Files.delete(lock);
                HostileFilesTest.mkfifo(lock);
            } catch (IOException | InterruptedException e) {
                throw new AssertionError(e);
            }
        };
        assertOnlyMismatchIn(deepVerify(), blob);
        assertTrue(time.log.stream().anyMatch(l -> l.contains("checking without coordination")), time.log.toString());
    }

    // --- forged deep-check records (D9) ---

    @Test
    void aRecordInALockFileOthersMayWriteIsNeverTaken() throws Exception {
        Path blob = corruptedSecondShard();
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        Files.setPosixFilePermissions(lock, PosixFilePermissions.fromString("rw-rw-r--"));
        HeldLock peer = NativeAccess.get().tryLock(lock, true);
        String fingerprint = fingerprint();
        time.duringSleep = () -> {
            try {
                DeepCheckLock.record(lock, fingerprint, List.of(), policy());
                peer.close();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        assertOnlyMismatchIn(deepVerify(), blob);
        assertEquals(0, time.sleeps, "a record it could not take is not waited for");
        assertTrue(time.log.stream().anyMatch(l -> l.contains("not sharing the deep check") && l.contains("mode 0664")
                && l.contains("hashing every blob here")), time.log.toString());
        peer.close();
    }

    /** A lock file made in a folder others may write, where no rank can share a check through it, is taken back. */
    @Test
    void aLockFileMadeWhereNoRankCanUseItIsTakenBack() throws Exception {
        Path blob = corruptedSecondShard();
        Files.setPosixFilePermissions(locks(), PosixFilePermissions.fromString("rwxrwxrwx"));
        assertOnlyMismatchIn(deepVerify(), blob);
        assertTrue(time.log.stream().anyMatch(l -> l.contains("not sharing the deep check")), time.log.toString());
        assertFalse(Files.exists(deepCheckLock()));
    }

    @Test
    void aRecordInALockFileOfAnotherUserIsNeverTaken() throws Exception {
        Path blob = corruptedSecondShard();
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        int owner = (Integer) Files.getAttribute(lock, "unix:uid");
        HeldLock peer = NativeAccess.get().tryLock(lock, true);
        DeepCheckLock.record(lock, fingerprint(), List.of(), policy());
        List<Problem> problems = DeepCheckLock.runOnce(new HubCache(hub.cache),
                new HubCache(hub.cache).snapshot(RepoRef.parse(HubFixture.REPO).orElseThrow()),
                List.of(blob), policy(), NativeAccess.get(), () -> List.of(new Problem(ErrorKind.DigestMismatch,
                        blob, "hashed here")), OptionalInt.of(owner + 1));
        assertEquals("hashed here", problems.getFirst().detail());
        assertTrue(time.log.stream().anyMatch(l -> l.contains("it belongs to uid " + owner + ", not to uid " + (owner + 1))),
                time.log.toString());
        assertEquals(0, time.sleeps);
        peer.close();
        // And a process that cannot tell who it is trusts nobody.
        assertTrue(DeepCheckLock.distrust(lock, OptionalInt.empty()).isPresent());
        assertEquals(java.util.Optional.empty(), DeepCheckLock.distrust(lock, OptionalInt.of(owner)));
    }

    /**
     * A process in a user namespace that maps no uid runs as the overflow uid (65534), the owner every file of an
     * unmapped user shows: the lock file seems its own, but owning it vouches for nobody, so it shares no deep check
     * and hashes by itself. It used to read the overflow uid as 6 (the first byte of a sysctl file read the way a
     * regular file is) and trust the file.
     */
    @Test
    void aProcessRunningAsTheOverflowUidSharesNoDeepCheck() throws Exception {
        assumeTrue(userNamespaces(), "needs unshare(1) and user namespaces");
        corruptedSecondShard();
        HubFixture.ownLockFile(deepCheckLock());
        List<String> command = new ArrayList<>(List.of("unshare", "--user"));
        // No perf data file: the JVM would leave a /tmp/hsperfdata_nobody folder behind.
        command.addAll(ChildJvm.main(DeepVerifyProbe.class).options("-XX:-UsePerfData")
                .args(hub.cache.toString(), HubFixture.REPO).command());
        Path output = scratch.resolve("probe.out");
        Process probe = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        assertTrue(probe.waitFor(30, TimeUnit.SECONDS), "the probe did not end");
        String out = Files.readString(output);
        assertEquals(0, probe.exitValue(), out);
        assertTrue(out.contains("not sharing the deep check") && out.contains("runs as the overflow uid")
                && out.contains("problem DigestMismatch"), out);
    }

    private static boolean userNamespaces() throws InterruptedException {
        try {
            Process p = new ProcessBuilder("unshare", "--user", "true").start();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false; // no unshare(1)
        }
    }

    @Test
    void aLockFileOpenedToOthersWhileARankWaitsIsNotTakenFromAndTheWaiterHashes() throws Exception {
        Path blob = corruptedSecondShard();
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        HeldLock peer = NativeAccess.get().tryLock(lock, true);
        String fingerprint = fingerprint();
        time.duringSleep = () -> {
            try {
                Files.setPosixFilePermissions(lock, PosixFilePermissions.fromString("rw-rw-rw-"));
                DeepCheckLock.record(lock, fingerprint, List.of(), policy());
                peer.close();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        assertOnlyMismatchIn(deepVerify(), blob);
        assertTrue(time.log.stream().anyMatch(l -> l.contains("not taking the deep check result") && l.contains("mode 0666")),
                time.log.toString());
    }

    /**
     * Two real processes: the forger holds the lock as a hashing rank would and writes "no problems" without
     * hashing; the verifier waits for it. A record in a file only this user can write is taken, and the
     * verifier says it took it rather than hashed; once the forger has opened the file to everyone, the
     * verifier hashes and finds the corrupted blob.
     */
    @Test
    void aForgedRecordFromAnotherProcessIsTakenOnlyFromAFileOnlyThisUserCanWrite() throws Exception {
        Path blob = corruptedSecondShard();
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        CheckpointVerifier.Result taken = verifyWhileForging(lock, "keep");
        assertTrue(taken.clean(), "a record of this user's is taken as it says: " + taken.problems());
        assertTrue(time.log.stream().anyMatch(l -> l.contains("took the result of the deep check another process of "
                + "this user ran") && l.contains("not hashed here")), time.log.toString());
        time.log.clear();
        assertOnlyMismatchIn(verifyWhileForging(lock, "open-to-all"), blob);
        assertTrue(time.log.stream().anyMatch(l -> l.contains("not taking the deep check result") && l.contains("mode 0666")),
                time.log.toString());
        assertFalse(time.log.stream().anyMatch(l -> l.contains("took the result")), time.log.toString());
    }

    private CheckpointVerifier.Result verifyWhileForging(Path lock, String how) throws Exception {
        Process forger = ChildJvm.main(DeepCheckForger.class).args(lock.toString(), fingerprint(), how).builder()
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(forger.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine());
            time.sleeps = 0;
            time.duringSleep = () -> {
                if (time.sleeps == 1) {
                    // The verifier is waiting for the lock: now the forger writes its record and lets go.
                    try (OutputStream in = forger.getOutputStream()) {
                        in.write('\n');
                    } catch (IOException e) {
                        throw new AssertionError(e);
                    }
                    try {
                        assertTrue(forger.waitFor(30, TimeUnit.SECONDS), "forger did not exit");
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    assertEquals(0, forger.exitValue());
                }
            };
            CheckpointVerifier.Result r = deepVerify();
            assertEquals(1, time.sleeps, time.log.toString());
            return r;
        } finally {
            forger.destroyForcibly();
        }
    }
}
