package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
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
    final FakeClock time = new FakeClock();

    @BeforeEach
    void cacheWithTwoShards() throws IOException {
        hub = new HubFixture(Files.createDirectory(root.resolve("hub")));
        scratch = Files.createDirectory(root.resolve("scratch"));
        hub.addFile("model-00001-of-00002.safetensors", HubFixture.shardBytes(scratch, "a", 1, "a.weight", "a.bias"));
        shard2 = HubFixture.shardBytes(scratch, "b", 2, "b.weight");
        hub.addIndex(Map.of("a.weight", "model-00001-of-00002.safetensors", "a.bias", "model-00001-of-00002.safetensors",
                "b.weight", "model-00002-of-00002.safetensors"));
    }

    private Checkpoint resolve(String repo, Duration timeout) {
        return CheckpointSource.resolve(repo, hub.cache, time.policy(timeout), Map.of(), NativeAccess.get());
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
        assertTrue(time.log.getLast().contains("is commit " + HubFixture.COMMIT), time.log.toString());
        assertEquals(HubFixture.COMMIT, resolve("acme/tiny@" + HubFixture.COMMIT, Duration.ofMinutes(1)).commit());
    }

    @Test
    void cacheLocationFollowsFlagThenEnvironment() {
        assertEquals(Path.of("/x"), HubCache.locate(Path.of("/x"), Map.of("HF_HUB_CACHE", "/y")).root());
        assertEquals(Path.of("/y"), HubCache.locate(null, Map.of("HF_HUB_CACHE", "/y", "HF_HOME", "/z")).root());
        assertEquals(Path.of("/z/hub"), HubCache.locate(null, Map.of("HF_HOME", "/z")).root());
        // As huggingface_hub reads them: a leading ~ is the home folder.
        String home = System.getProperty("user.home");
        assertEquals(Path.of(home, "x", "hub"), HubCache.locate(null, Map.of("HF_HOME", "~/x")).root());
        assertEquals(Path.of(home), HubCache.locate(null, Map.of("HF_HUB_CACHE", "~")).root());
        assertTrue(HubCache.locate(null, Map.of()).root().endsWith(Path.of(".cache/huggingface/hub")));
    }

    /**
     * The rest of huggingface_hub's order (its constants.py): the older HUGGINGFACE_HUB_CACHE, XDG_CACHE_HOME, HOME
     * before the user's entry (a container's user may have none), and variables inside the values.
     */
    @Test
    void cacheLocationFollowsHuggingfaceHubsWholeOrder() {
        assertEquals(Path.of("/old"), HubCache.locate(null, Map.of("HUGGINGFACE_HUB_CACHE", "/old", "HF_HOME", "/z"))
                .root());
        assertEquals(Path.of("/new"), HubCache.locate(null, Map.of("HF_HUB_CACHE", "/new",
                "HUGGINGFACE_HUB_CACHE", "/old")).root());
        assertEquals(Path.of("/xdg/huggingface/hub"), HubCache.locate(null, Map.of("XDG_CACHE_HOME", "/xdg")).root());
        assertEquals(Path.of("/z/hub"), HubCache.locate(null, Map.of("XDG_CACHE_HOME", "/xdg", "HF_HOME", "/z"))
                .root());
        assertEquals(Path.of("/workspace/.cache/huggingface/hub"), HubCache.locate(null, Map.of("HOME", "/workspace"))
                .root());
        assertEquals(Path.of("/workspace/x/hub"), HubCache.locate(null, Map.of("HOME", "/workspace", "HF_HOME", "~/x"))
                .root());
        assertEquals(Path.of("/scratch/u1/hf/hub"), HubCache.locate(null, Map.of("SCRATCH", "/scratch", "USER", "u1",
                "HF_HOME", "$SCRATCH/${USER}/hf")).root());
        assertEquals(Path.of("$UNSET/hf/hub"), HubCache.locate(null, Map.of("HF_HOME", "$UNSET/hf")).root());
        // A container's random uid with HOME unset has no home: the JVM's "?" is no folder to look in.
        StloadException homeless = assertThrows(StloadException.class, () -> HubCache.locate(null, Map.of(), "?"));
        assertEquals(ErrorKind.Usage, homeless.kind());
        assertTrue(homeless.detail().contains("HOME is not set") && homeless.detail().contains("--cache-dir"),
                homeless.detail());
        assertEquals(Path.of("/hf/hub"), HubCache.locate(null, Map.of("HF_HOME", "/hf"), "?").root());
        StloadException nul = assertThrows(StloadException.class, () -> HubCache.locate(null, Map.of("HOME", "/a\0b")));
        assertEquals(ErrorKind.Usage, nul.kind());
        assertTrue(nul.detail().contains("cannot name a hub cache folder (from HOME)"), nul.detail());
    }

    /**
     * A repo of the hub's first years has no owner ({@code gpt2}: {@code models--gpt2}); a bare word is taken for one
     * only where the cache holds it, and is otherwise a path, reported as one.
     */
    @Test
    void aRepoWithNoOwnerResolvesWhereTheCacheHoldsIt() throws IOException {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Files.move(hub.repoDir, hub.cache.resolve("models--tiny"));
        try (Checkpoint c = resolve("tiny", Duration.ofMinutes(1))) {
            assertEquals(3, c.tensors().size());
            assertEquals(HubFixture.COMMIT, c.commit());
        }
        assertTrue(time.log.getLast().startsWith("tiny@main is commit"), time.log.toString());
        StloadException typo = assertThrows(StloadException.class, () -> resolve("tinny", Duration.ofMinutes(1)));
        assertEquals(ErrorKind.Io, typo.kind(), typo.getMessage());
        assertTrue(typo.getMessage().contains("no such file or directory"), typo.getMessage());
    }

    @Test
    void unknownRevisionIsMissingWithTheFetchCommand() {
        StloadException e = rejected("acme/tiny@v2", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("hf download acme/tiny --revision v2"), e.getMessage());
    }

    @Test
    void missingShardWithNoDownloadIsReportedAtOnceWithTensorsAndCommand() {
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("`b.weight`"), e.getMessage());
        assertTrue(e.getMessage().contains("hf download acme/tiny --revision " + HubFixture.COMMIT),
                e.getMessage());
        assertEquals(0, time.sleeps);
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
    void aSymlinkLoopIsSaidToBeOneNotMissing() throws IOException {
        Files.createSymbolicLink(hub.blobs.resolve("loop"), Path.of("loop"));
        hub.link("model-00002-of-00002.safetensors", "loop");
        StloadException e = rejected("acme/tiny", ErrorKind.Io);
        assertTrue(e.getMessage().endsWith("a symlink loop (too many levels of symbolic links)"), e.getMessage());
    }

    @Test
    void aSnapshotLinkToItselfIsALoopNotAPathOutOfTheBlobs() throws IOException {
        Path shard = hub.snapshot.resolve("model-00002-of-00002.safetensors");
        Files.createSymbolicLink(shard, shard.getFileName());
        StloadException e = rejected("acme/tiny", ErrorKind.Io);
        assertTrue(e.getMessage().endsWith("a symlink loop (too many levels of symbolic links)"), e.getMessage());
    }

    @Test
    void plainDirectoryRefusesSymlinksLeavingIt() throws IOException {
        Path dir = Files.createDirectory(root.resolve("plain"));
        Files.createSymbolicLink(dir.resolve("model.safetensors"), hub.blobs.resolve(HubFixture.sha256(shard2)));
        Files.write(hub.blobs.resolve(HubFixture.sha256(shard2)), shard2);
        StloadException e = assertThrows(StloadException.class, () -> Checkpoint.open(dir));
        assertEquals(ErrorKind.UnsafePath, e.kind(), e.getMessage());
    }

    /**
     * huggingface_hub 2 keeps the files it fetches through Xet once for the whole cache, in {@code blobs/} beside the
     * repos (marked by {@code .huggingface-shared-blobs}), and a repo's blob is a link into it: such a snapshot loads,
     * and the deep check compares with the sha256 that names the repo's blob, not the store file's name (another
     * hash). Without the marker, that folder is no place of the repo's.
     */
    @Test
    void aCacheWhoseBlobsAreSharedAcrossReposLoadsAndIsDeepChecked() throws Exception {
        Path store = Files.createDirectories(hub.cache.resolve("blobs"));
        Files.writeString(store.resolve(".huggingface-shared-blobs"), "1\n");
        String xetHash = "ab" + "c".repeat(62);
        Path stored = Files.write(Files.createDirectories(store.resolve("ab")).resolve(xetHash), shard2);
        String sha = HubFixture.sha256(shard2);
        Files.createSymbolicLink(hub.blobs.resolve(sha), Path.of("../../blobs/ab").resolve(xetHash));
        hub.link("model-00002-of-00002.safetensors", sha);
        try (Checkpoint c = resolve("acme/tiny", Duration.ofMinutes(1))) {
            assertEquals(3, c.tensors().size());
        }
        assertEquals(List.of(), deepVerify().problems());

        byte[] corrupted = shard2.clone();
        corrupted[corrupted.length - 1] ^= 1;
        Files.write(stored, corrupted);
        List<Problem> problems = deepVerify().problems();
        assertEquals(List.of(ErrorKind.DigestMismatch), problems.stream().map(Problem::kind).toList());
        assertEquals(hub.blobs.resolve(sha), problems.getFirst().file());

        Files.delete(store.resolve(".huggingface-shared-blobs"));
        rejected("acme/tiny", ErrorKind.UnsafePath);
    }

    /** A cache made without symlinks (Windows, HF_HUB_DISABLE_SYMLINKS) holds its files as copies in the snapshot. */
    @Test
    void aCacheMadeWithoutSymlinksHoldsCopiesInTheSnapshot() throws IOException {
        Files.write(hub.snapshot.resolve("model-00002-of-00002.safetensors"), shard2);
        try (Checkpoint c = resolve("acme/tiny", Duration.ofMinutes(1))) {
            assertEquals(3, c.tensors().size());
        }
    }

    /**
     * A snapshot folder that is a link out of the repo vouches for nothing it leads to: plain files there are refused
     * as they always were (copies count only in a snapshot that really lies in the repo's {@code snapshots/}).
     */
    @Test
    void aSnapshotFolderLinkedOutOfTheRepoHoldsNoCopies() throws IOException {
        Path elsewhere = Files.createDirectory(root.resolve("someone-elses-model"));
        try (Stream<Path> files = Files.list(hub.snapshot)) {
            for (Path f : files.toList()) {
                Files.copy(f, elsewhere.resolve(f.getFileName()));
                Files.delete(f);
            }
        }
        Files.write(elsewhere.resolve("model-00002-of-00002.safetensors"), shard2);
        Files.delete(hub.snapshot);
        Files.createSymbolicLink(hub.snapshot, elsewhere);
        rejected("acme/tiny", ErrorKind.UnsafePath);
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
        time.duringSleep = () -> {
            if (time.sleeps == 5) {
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
        assertEquals(5, time.sleeps);
        assertTrue(time.log.getFirst().contains("x.lock held"), time.log.toString());
    }

    @Test
    void aDownloadThatFinishesBetweenTheOpenAndTheLookAtItsLockIsLoaded() throws IOException {
        Path lockFile = Files.createDirectories(hub.cache.resolve(".locks/models--acme--tiny")).resolve("x.lock");
        Files.createFile(lockFile);
        HeldLock download = NativeAccess.get().tryLock(lockFile, true);
        // The first probe comes before the first open; the peer finishes just before the second, so the loader
        // sees the shard missing and then no download at all.
        NativeAccess peerFinishesAtSecondProbe = new DelegatingNativeAccess(NativeAccess.get()) {
            int probes;

            @Override
            public HeldLock tryLock(Path file, boolean exclusive) throws IOException {
                if (++probes == 2) {
                    hub.addFile("model-00002-of-00002.safetensors", shard2);
                    download.close();
                }
                return real.tryLock(file, exclusive);
            }
        };
        Checkpoint ckpt = CheckpointSource.resolve("acme/tiny", hub.cache, time.policy(Duration.ofMinutes(1)), Map.of(),
                peerFinishesAtSecondProbe);
        assertEquals(3, ckpt.tensors().size());
        assertEquals(0, time.sleeps, "nothing left to wait for");
    }

    /**
     * Before its index has arrived, a snapshot's shards still say how many there are: the first of two, alone, is a
     * download in progress, waited for, never a checkpoint of one shard.
     */
    @Test
    void anUnindexedSnapshotMissingASiblingShardIsWaitedFor() throws IOException {
        Files.delete(hub.snapshot.resolve("model.safetensors.index.json"));
        Path partial = hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete");
        Files.write(partial, new byte[1]);
        time.duringSleep = () -> {
            try {
                if (time.sleeps < 3) {
                    Files.write(partial, new byte[(int) Files.size(partial) + 1]);
                } else if (Files.exists(partial)) {
                    Files.delete(partial);
                    hub.addFile("model-00002-of-00002.safetensors", shard2);
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        Checkpoint ckpt = resolve("acme/tiny", Duration.ofMinutes(1));
        assertEquals(3, ckpt.tensors().size(), "both shards, not the first alone");
        assertTrue(time.sleeps >= 3, "waited: " + time.sleeps);
        Files.delete(hub.snapshot.resolve("model-00002-of-00002.safetensors"));
        StloadException missing = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(missing.getMessage().contains("1 of the 2 shards model-00001-of-00002.safetensors belongs to are "
                + "missing"), missing.getMessage());
    }

    @Test
    void growingIncompleteIsWaitedForUntilTheTimeout() throws IOException {
        Path partial = hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete");
        Files.write(partial, new byte[1]);
        time.duringSleep = () -> {
            try {
                Files.write(partial, new byte[(int) Files.size(partial) + 1]);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        StloadException e = assertThrows(StloadException.class, () -> resolve("acme/tiny", Duration.ofSeconds(30)));
        assertEquals(ErrorKind.WaitTimeout, e.kind(), e.getMessage());
        assertTrue(time.nanos.get() >= Duration.ofSeconds(30).toNanos());
        // A line at the start and about every 10 s, not one per backoff step.
        assertTrue(time.log.size() >= 3 && time.log.size() <= 4, time.log.toString());
        assertTrue(Files.exists(partial), "never deleted");
    }

    @Test
    void abandonedIncompleteIsReportedAsSuch() throws IOException {
        Path partial = Files.write(hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete"), new byte[10]);
        Files.setLastModifiedTime(partial, FileTime.fromMillis(System.currentTimeMillis() - 3_600_000));
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("interrupted download"), e.getMessage());
        assertEquals(0, time.sleeps);
        assertTrue(Files.exists(partial));
    }

    @Test
    void stalledIncompleteIsCalledAbandonedAfterItStopsChanging() throws IOException {
        Files.write(hub.blobs.resolve(HubFixture.sha256(shard2) + ".incomplete"), new byte[10]);
        StloadException e = rejected("acme/tiny", ErrorKind.MissingShard);
        assertTrue(e.getMessage().contains("interrupted download"), e.getMessage());
        assertTrue(time.nanos.get() >= CheckpointSource.STALL_AFTER.toNanos());
    }

    private CheckpointVerifier.Result deepVerify() throws InterruptedException {
        return CheckpointVerifier.verify("acme/tiny", hub.cache, true, 2, time.policy(Duration.ofMinutes(1)),
                CheckpointVerifier.HashProgress.NONE, Map.of(), NativeAccess.get());
    }

    /** The blobs a deep check of the two-shard fixture hashes, in its order. */
    private List<Path> shardBlobs() throws IOException {
        List<Path> blobs = new ArrayList<>();
        for (String shard : List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")) {
            blobs.add(hub.snapshot.resolve(shard).toRealPath());
        }
        return blobs.stream().sorted().toList();
    }

    private Path deepCheckLock() {
        return new HubCache(hub.cache).coordinationLock(RepoRef.parse("acme/tiny").orElseThrow(), HubFixture.COMMIT);
    }

    @Test
    void deepVerifyHashesEveryTimeEvenWhenSizeTimeAndInodeAreUnchanged() throws Exception {
        Path blob = hub.addFile("model-00002-of-00002.safetensors", shard2).toRealPath();
        CheckpointVerifier.Result clean = deepVerify();
        assertTrue(clean.clean(), clean.problems().toString());
        // Bit rot, or `cp -p` of a damaged copy: same size, same mtime, same inode, other bytes.
        FileTime mtime = Files.getLastModifiedTime(blob);
        Object inode = Files.readAttributes(blob, BasicFileAttributes.class).fileKey();
        try (FileChannel ch = FileChannel.open(blob, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[64]), shard2.length / 2);
        }
        Files.setLastModifiedTime(blob, mtime);
        assertEquals(inode, Files.readAttributes(blob, BasicFileAttributes.class).fileKey());
        CheckpointVerifier.Result bad = deepVerify();
        assertEquals(1, bad.problems().size(), bad.problems().toString());
        Problem p = bad.problems().getFirst();
        assertEquals(ErrorKind.DigestMismatch, p.kind());
        assertTrue(p.detail().contains("model-00002-of-00002.safetensors of acme/tiny@" + HubFixture.COMMIT),
                p.detail());
        assertTrue(p.detail().contains("--force-download"), p.detail());
    }

    @Test
    void aRankThatFindsTheHashInProgressWaitsAndTakesItsResult() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        HeldLock peer = NativeAccess.get().tryLock(lock, true);
        Problem peersFinding = new Problem(ErrorKind.DigestMismatch, null, "found by the peer");
        String fingerprint = DeepCheckLock.fingerprint(shardBlobs());
        time.duringSleep = () -> {
            if (time.sleeps == 3) {
                try {
                    DeepCheckLock.record(lock, fingerprint, List.of(peersFinding), time.policy(Duration.ofMinutes(1)));
                    peer.close();
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            }
        };
        AtomicLong hashed = new AtomicLong();
        CheckpointVerifier.Result r = CheckpointVerifier.verify("acme/tiny", hub.cache, true, 2,
                time.policy(Duration.ofMinutes(1)), new CheckpointVerifier.HashProgress() {
                    @Override
                    public void hashed(long bytes) {
                        hashed.addAndGet(bytes);
                    }
                }, Map.of(), NativeAccess.get());
        assertEquals(List.of(peersFinding), r.problems());
        assertEquals(0, hashed.get(), "the peer's hash is taken, not repeated");
        assertTrue(time.log.stream().anyMatch(l -> l.contains("took the result")), time.log.toString());
    }

    @Test
    void anOldRecordIsNeverTakenByARankThatFindsTheLockFree() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        DeepCheckLock.record(lock, DeepCheckLock.fingerprint(shardBlobs()),
                List.of(new Problem(ErrorKind.DigestMismatch, null, "stale")), time.policy(Duration.ofMinutes(1)));
        CheckpointVerifier.Result r = deepVerify();
        assertTrue(r.clean(), r.problems().toString());
    }

    @Test
    void anUnreadableRecordIsIgnoredWithANoteAndTheRankHashesItself() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Path lock = HubFixture.ownLockFile(deepCheckLock());
        HeldLock peer = NativeAccess.get().tryLock(lock, true);
        String fingerprint = DeepCheckLock.fingerprint(shardBlobs());
        time.duringSleep = () -> {
            try {
                Files.writeString(lock, DeepCheckLock.MAGIC + "\nsome-id\n" + fingerprint
                        + "\nNoSuchKind\t\tfrom a newer version\nend\n");
                peer.close();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        CheckpointVerifier.Result r = deepVerify();
        assertTrue(r.clean(), r.problems().toString());
        assertTrue(time.log.stream().anyMatch(l -> l.contains("ignoring the unreadable record")), time.log.toString());
    }

    /** A symlink where the lock's folder belongs would carry the lock and its records out of the cache. */
    @Test
    void aLockFolderThatIsASymlinkIsNotFollowed() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Path elsewhere = Files.createDirectory(root.resolve("elsewhere"));
        try (Stream<Path> locks = Files.walk(hub.cache.resolve(".locks"))) {
            for (Path p : locks.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        Files.createSymbolicLink(hub.cache.resolve(".locks"), elsewhere);
        CheckpointVerifier.Result r = deepVerify();
        assertTrue(r.clean(), r.problems().toString());
        try (Stream<Path> written = Files.list(elsewhere)) {
            assertEquals(List.of(), written.toList(), "nothing written through the link");
        }
        assertTrue(time.log.stream().anyMatch(l -> l.contains("checking without coordination")), time.log.toString());
    }

    @Test
    void aLockFileThatIsASymlinkIsRefusedAndItsTargetNeverWritten() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Path victim = Files.writeString(root.resolve("victim"), "someone else's file\n");
        Path lock = deepCheckLock();
        Files.createDirectories(lock.getParent());
        Files.createSymbolicLink(lock, victim);
        CheckpointVerifier.Result r = deepVerify();
        assertTrue(r.clean(), r.problems().toString());
        assertEquals("someone else's file\n", Files.readString(victim));
        assertTrue(time.log.stream().anyMatch(l -> l.contains("checking without coordination")), time.log.toString());
    }

    @Test
    void theDeepCheckLockFollowsTheHubsLockFolderConvention() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        assertTrue(deepVerify().clean());
        assertTrue(Files.isRegularFile(hub.cache.resolve(".locks/models--acme--tiny/stload-deep-check-"
                + HubFixture.COMMIT + ".lock")));
        assertFalse(Files.exists(hub.cache.resolve(".locks/stload")));
        // ... and is never mistaken for a download in progress.
        Files.delete(hub.snapshot.resolve("model-00002-of-00002.safetensors"));
        rejected("acme/tiny", ErrorKind.MissingShard);
        assertEquals(0, time.sleeps);
    }

    @Test
    void verifyChecksWhatLoadReadsAndNotesTheRest() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        hub.addFile("stray.safetensors", "not a safetensors file".getBytes(StandardCharsets.UTF_8));
        CheckpointVerifier.Result r = deepVerify();
        assertTrue(r.clean(), r.problems().toString());
        assertTrue(r.notes().stream().anyMatch(n -> n.startsWith("stray.safetensors is not named by")), r.notes().toString());
    }

    /** A load reads the index too: named by its sha256, its blob is hashed like the shards'. */
    @Test
    void aDeepCheckHashesAnIndexBlobNamedBySha256() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Files.delete(hub.snapshot.resolve("model.safetensors.index.json"));
        byte[] index = ("{\"weight_map\":{\"a.weight\":\"model-00001-of-00002.safetensors\",\"a.bias\":"
                + "\"model-00001-of-00002.safetensors\",\"b.weight\":\"model-00002-of-00002.safetensors\"}}")
                .getBytes(StandardCharsets.UTF_8);
        hub.addFile("model.safetensors.index.json", index);
        assertTrue(deepVerify().clean());
        Files.write(hub.blobs.resolve(HubFixture.sha256(index)), " ".getBytes(StandardCharsets.UTF_8),
                StandardOpenOption.APPEND);
        assertEquals(List.of(ErrorKind.DigestMismatch), deepVerify().problems().stream().map(Problem::kind).toList());
    }

    /** A shard the index names that fails its check is a problem, and never also noted as one the index leaves out. */
    @Test
    void aShardThatFailsItsCheckIsNotNotedAsUnnamed() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", java.util.Arrays.copyOf(shard2, shard2.length / 2));
        CheckpointVerifier.Result r = deepVerify();
        assertEquals(List.of(ErrorKind.MetadataIncompleteBuffer), r.problems().stream().map(Problem::kind).toList(),
                r.problems().toString());
        assertEquals(List.of(), r.notes());
    }

    @Test
    void aTensorTheIndexMapsNowhereIsANoteNotAProblem() throws Exception {
        hub.addFile("model-00002-of-00002.safetensors", shard2);
        Files.delete(hub.snapshot.resolve("model.safetensors.index.json"));
        hub.addIndex(Map.of("a.weight", "model-00001-of-00002.safetensors",
                "b.weight", "model-00002-of-00002.safetensors"));
        CheckpointVerifier.Result r = deepVerify();
        assertTrue(r.clean(), r.problems().toString());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("model-00001-of-00002.safetensors holds 1 tensor(s)")
                && n.contains("a.bias")), r.notes().toString());
    }

    @Test
    void aDownloadLockThatCannotBeProbedIsWaitedForAndSaysWhy() throws IOException {
        Path lockFile = Files.createDirectories(hub.cache.resolve(".locks/models--acme--tiny")).resolve("x.lock");
        Files.createFile(lockFile);
        NativeAccess probeFails = new DelegatingNativeAccess(NativeAccess.get()) {
            @Override
            public HeldLock tryLock(Path file, boolean exclusive) throws IOException {
                throw new IOException("injected: Input/output error");
            }
        };
        StloadException e = assertThrows(StloadException.class, () -> CheckpointSource.resolve("acme/tiny",
                hub.cache, time.policy(Duration.ofSeconds(30)), Map.of(), probeFails));
        assertEquals(ErrorKind.WaitTimeout, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("unknown state (injected: Input/output error)"), e.getMessage());
        assertTrue(time.log.getFirst().contains("x.lock in an unknown state"), time.log.toString());
    }
}
