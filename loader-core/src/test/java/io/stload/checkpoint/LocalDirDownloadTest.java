package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A folder that {@code hf download REPO --local-dir DIR} is still filling: huggingface_hub keeps each file's lock
 * and partial download in {@code DIR/.cache/huggingface/download/} and moves the file into {@code DIR} once whole.
 * Ranks started meanwhile wait for it, as for a download into the hub cache. Time is a fake clock: a wait shows as
 * a sleep, never as a slow test.
 */
class LocalDirDownloadTest {

    @TempDir
    Path root;
    Path dir;
    Path download;
    byte[] shard2;
    final FakeClock time = new FakeClock();

    @BeforeEach
    void aDownloadWithItsSecondShardToCome() throws IOException {
        dir = Files.createDirectory(root.resolve("ckpt"));
        download = Files.createDirectories(dir.resolve(".cache/huggingface/download"));
        Path scratch = Files.createDirectory(root.resolve("scratch"));
        Files.write(dir.resolve(HubFixture.SHARD1), HubFixture.shardBytes(scratch, "a", 1, "a.weight"));
        shard2 = HubFixture.shardBytes(scratch, "b", 2, "b.weight");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\":{},\"weight_map\":{\"a.weight\":\""
                + HubFixture.SHARD1 + "\",\"b.weight\":\"" + HubFixture.SHARD2 + "\"}}");
        for (String f : List.of(HubFixture.SHARD1, HubFixture.SHARD2, "model.safetensors.index.json")) {
            Files.createFile(download.resolve(f + ".lock")); // lock files stay after their download
        }
    }

    private Checkpoint open() {
        return CheckpointSource.resolve(dir.toString(), null, time.policy(Duration.ofMinutes(10)), Map.of(),
                NativeAccess.get());
    }

    /** What the download does once the rank waits: the shard lands whole at its name, and the lock is let go. */
    private void finishesAtFirstSleep(HeldLock lock) {
        time.duringSleep = () -> {
            try {
                Files.write(dir.resolve(HubFixture.SHARD2), shard2);
                lock.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }

    /** The checkpoint opens after one wait, once the download {@code lock} belongs to has finished. */
    private void loadsAfterOneWait(HeldLock lock) {
        finishesAtFirstSleep(lock);
        try (Checkpoint c = open()) {
            assertEquals(2, c.tensors().size());
        }
        assertEquals(1, time.sleeps);
    }

    @Test
    void aShardStillDownloadingIsWaitedForThenLoaded() throws IOException {
        Files.write(download.resolve("aGVsbG8.0123abcd.incomplete"), new byte[100]);
        loadsAfterOneWait(NativeAccess.get().tryLock(download.resolve(HubFixture.SHARD2 + ".lock"), true));
        assertTrue(time.log.stream().anyMatch(l -> l.contains(HubFixture.SHARD2) && l.contains("download lock " + HubFixture.SHARD2 + ".lock held")),
                time.log.toString());
    }

    /**
     * A repo with subfolders (a diffusers pipeline: {@code DIR/transformer/}) keeps a subfolder's locks and partial
     * files in the same subfolder of {@code download/}; a rank that loads the subfolder, or names a file, waits too.
     */
    @Test
    void aSubfolderOfTheDownloadIsWaitedForAsTheWholeIs() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("transformer"));
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.move(f, sub.resolve(f.getFileName()));
            }
        }
        Path subLocks = Files.createDirectories(download.resolve("transformer"));
        HeldLock lock = NativeAccess.get().tryLock(Files.createFile(subLocks.resolve(HubFixture.SHARD2 + ".lock")), true);
        dir = sub;
        loadsAfterOneWait(lock);
    }

    /** huggingface_hub copies a file it has in its cache into place under the file's lock: cut short until then. */
    @Test
    void aShardCutShortWhileItsLockIsHeldIsWaitedFor() throws IOException {
        Files.write(dir.resolve(HubFixture.SHARD2), Arrays.copyOf(shard2, 40));
        loadsAfterOneWait(NativeAccess.get().tryLock(download.resolve(HubFixture.SHARD2 + ".lock"), true));
    }

    /** Once no lock is held, a shard cut short is the file's fault, and a missing one is missing: no wait. */
    @Test
    void withNoDownloadRunningWhatIsWrongIsSaidAtOnce() throws IOException {
        Files.write(dir.resolve(HubFixture.SHARD2), Arrays.copyOf(shard2, 40));
        StloadException cut = assertThrows(StloadException.class, this::open);
        assertTrue(cut.kind() != ErrorKind.MissingShard && cut.kind() != ErrorKind.WaitTimeout, cut.getMessage());
        Files.delete(dir.resolve(HubFixture.SHARD2));
        assertEquals(ErrorKind.MissingShard, assertThrows(StloadException.class, this::open).kind());
        assertEquals(0, time.sleeps);
    }

    @Test
    void aPartialDownloadNobodyWritesIsInterruptedAndSaysHowToResume() throws IOException {
        Path partial = Files.write(download.resolve("aGVsbG8.0123abcd.incomplete"), new byte[100]);
        Files.setLastModifiedTime(partial, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        StloadException e = assertThrows(StloadException.class, this::open);
        assertEquals(ErrorKind.MissingShard, e.kind());
        assertTrue(e.getMessage().contains("interrupted download") && e.getMessage().contains("--local-dir " + dir),
                e.getMessage());
    }
}
