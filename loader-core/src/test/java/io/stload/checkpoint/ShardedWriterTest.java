package io.stload.checkpoint;

import static io.stload.testing.Commands.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.SafetensorsFile;
import io.stload.format.SafetensorsWriter.DataSource;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sharded save: the hub's layout, round trips, limits, atomicity, and the reference library's reading. */
class ShardedWriterTest {
    private static final Map<String, String> METADATA = Map.of("format", "pt", "author", "test");

    @TempDir
    Path dir;

    /** Ten tensors of 1000 to 1900 random bytes (U8 and F32), by name, in write order. */
    private static Map<String, byte[]> tensors() {
        SplittableRandom random = new SplittableRandom(11);
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (int i = 0; i < 10; i++) {
            byte[] b = new byte[1000 + 100 * i];
            random.nextBytes(b);
            out.put("layer." + i + ".weight", b);
        }
        return out;
    }

    private static List<Entry> entries(Map<String, byte[]> tensors) {
        List<Entry> out = new ArrayList<>();
        for (Map.Entry<String, byte[]> t : tensors.entrySet()) {
            int n = t.getValue().length;
            out.add(n % 4 == 0 ? new Entry(t.getKey(), DType.F32, new long[] {n / 4}) : new Entry(t.getKey(), DType.U8, new long[] {n}));
        }
        return out;
    }

    private static DataSource from(Map<String, byte[]> tensors) {
        return (e, out) -> {
            ByteBuffer b = ByteBuffer.wrap(tensors.get(e.name()));
            while (b.hasRemaining()) {
                out.write(b);
            }
        };
    }

    private static void assertSameTensors(Map<String, byte[]> expected, Path checkpointDir) {
        Checkpoint ckpt = Checkpoint.open(checkpointDir);
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(ckpt.tensors().keySet()));
        try (Arena arena = Arena.ofConfined()) {
            for (TensorRef t : ckpt.tensors().values()) {
                byte[] got = SafetensorsFile.map(t.file(), arena).tensor(t.info()).data().toArray(ValueLayout.JAVA_BYTE);
                assertArrayEquals(expected.get(t.name()), got, t.name());
            }
        }
    }

    @Test
    void shardsOfAtMostTheLimitWithAHubIndexRoundTrip() throws IOException {
        Map<String, byte[]> tensors = tensors();
        Path out = dir.resolve("out");
        List<Path> files = ShardedWriter.write(out, METADATA, entries(tensors), from(tensors), 4000);

        // 1000+1100+1200 | 1300+1400 | 1500+1600 | 1700+1800 | 1900: greedy, in order, never over 4000.
        assertEquals(List.of("model-00001-of-00005.safetensors", "model-00002-of-00005.safetensors",
                        "model-00003-of-00005.safetensors", "model-00004-of-00005.safetensors",
                        "model-00005-of-00005.safetensors", ShardedWriter.INDEX),
                files.stream().map(p -> p.getFileName().toString()).toList());
        try (Stream<Path> listed = Files.list(out)) {
            assertEquals(6, listed.count(), "nothing else in the folder");
        }
        Checkpoint ckpt = Checkpoint.open(out);
        assertEquals(out.resolve(ShardedWriter.INDEX), ckpt.index());
        for (Header h : ckpt.files()) {
            assertTrue(h.dataBytes() <= 4000, h.file() + " holds " + h.dataBytes());
            assertEquals(METADATA, h.metadata(), "user metadata in every shard");
        }
        String index = Files.readString(out.resolve(ShardedWriter.INDEX));
        assertTrue(index.startsWith("{\"metadata\":{\"total_size\":14500,"), index);
        assertTrue(index.contains("\"format\":\"pt\"") && index.contains("\"author\":\"test\""), index);
        assertTrue(index.contains("\"layer.3.weight\":\"model-00002-of-00005.safetensors\""), index);
        assertSameTensors(tensors, out);
    }

    @Test
    void aCheckpointThatFitsOneShardIsOneFileWithoutIndex() throws IOException {
        Map<String, byte[]> tensors = tensors();
        Path out = dir.resolve("one");
        List<Path> files = ShardedWriter.write(out, null, entries(tensors), from(tensors), Long.MAX_VALUE);
        assertEquals(List.of(out.resolve(ShardedWriter.SINGLE)), files);
        assertSameTensors(tensors, out);
    }

    @Test
    void aFailureHalfWayLeavesNothingUnderTheFinalNameNorBesideIt() {
        Map<String, byte[]> tensors = tensors();
        Path out = dir.resolve("failed");
        DataSource failsOnTheFifth = (e, to) -> {
            if (e.name().equals("layer.5.weight")) {
                throw new IOException("disk full (injected)");
            }
            from(tensors).write(e, to);
        };
        IOException e = assertThrows(IOException.class,
                () -> ShardedWriter.write(out, METADATA, entries(tensors), failsOnTheFifth, 3000));
        assertEquals("disk full (injected)", e.getMessage());
        assertFalse(Files.exists(out));
        assertEquals(List.of(), List.of(dir.toFile().list()), "the temporary folder is gone too");
    }

    /** The folders above OUT that a failed run made go with it; one holding something else stays. */
    @Test
    void aFailureRemovesTheFoldersItMadeAboveTheOutput() throws IOException {
        Path out = dir.resolve("a/b/out");
        assertThrows(IOException.class, () -> ShardedWriter.writeAtomically(out, tmp -> {
            throw new IOException("disk full (injected)");
        }));
        assertEquals(List.of(), List.of(dir.toFile().list()));

        Files.createDirectories(dir.resolve("a"));
        Files.writeString(dir.resolve("a/keep.txt"), "mine");
        assertThrows(IOException.class, () -> ShardedWriter.writeAtomically(out, tmp -> {
            throw new IOException("disk full (injected)");
        }));
        assertEquals(List.of("keep.txt"), List.of(dir.resolve("a").toFile().list()));
    }

    /** An OUT name near the 255-byte limit is written: the temporary name beside it, longer by 30 bytes, is cut. */
    @Test
    void anOutputNameNearTheLimitIsWritten() throws IOException {
        for (String name : List.of("o".repeat(250), "\u00e9".repeat(127))) { // 250 and 254 bytes, two a character
            Map<String, byte[]> tensors = tensors();
            ShardedWriter.write(dir.resolve(name), null, entries(tensors), from(tensors), Long.MAX_VALUE);
            assertSameTensors(tensors, dir.resolve(name));
        }
        assertEquals(2, dir.toFile().list().length, "no temporary tree is left");
    }

    /** {@code link/..} is where the kernel takes it: the parent of the link's target, not the folder of the link. */
    @Test
    void aDotDotAfterALinkNamesTheFolderAboveItsTarget() throws IOException {
        Path target = Files.createDirectories(dir.resolve("deep/a"));
        Files.createSymbolicLink(dir.resolve("L"), target);
        Map<String, byte[]> tensors = tensors();
        ShardedWriter.write(dir.resolve("L/../out"), null, entries(tensors), from(tensors), Long.MAX_VALUE);
        assertSameTensors(tensors, dir.resolve("deep/out"));
        assertFalse(Files.exists(dir.resolve("out")));
    }

    /** Another process that fills OUT while this one writes wins; this one says so and leaves its files alone. */
    @Test
    void anOutputFilledMeanwhileIsTheOtherWritersAndIsRefused() throws IOException {
        Path out = dir.resolve("out");
        StloadException e = assertThrows(StloadException.class, () -> ShardedWriter.writeAtomically(out, tmp -> {
            Files.createDirectories(out);
            Files.writeString(out.resolve("theirs.safetensors"), "theirs");
        }));
        assertEquals("Usage: " + out + ": was filled by another process while this one wrote it; choose a new folder",
                e.getMessage());
        assertEquals(List.of("out"), List.of(dir.toFile().list()), "no temporary tree is left");
        assertEquals("theirs", Files.readString(out.resolve("theirs.safetensors")));
    }

    /**
     * A temporary tree whose writer's process id is not to be seen here (a writer in another PID namespace: a
     * container sharing the folder) is kept while that writer holds its lock, a real process's flock(2), and removed
     * once it is gone.
     */
    @Test
    void aTreeWhoseWriterStillHoldsItsLockIsKeptWhateverItsProcessId() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(30, TimeUnit.SECONDS));
        Path tree = Files.createDirectories(dir.resolve(".out.tmp-" + gone.pid() + "-5"));
        Files.writeString(tree.resolve(".stload-partial"), gone.pid() + " 0\n");
        Process holder = new ProcessBuilder("flock", "-n", tree.toString(), "sh", "-c", "echo held; read line").start();
        try (var said = holder.inputReader()) {
            assertEquals("held", said.readLine(), "flock(1) could not take the lock");
            assertEquals(List.of(), ShardedWriter.removeAbandoned(dir.resolve("out")));
            assertTrue(Files.exists(tree.resolve(".stload-partial")));
        } finally {
            holder.getOutputStream().close(); // ends the read, and with it the holder
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(List.of(tree), ShardedWriter.removeAbandoned(dir.resolve("out")));
        assertFalse(Files.exists(tree));
    }

    /** Two shards could each hold a tensor of one name, which the index cannot map twice: refused, nothing written. */
    @Test
    void aNameGivenTwiceIsRefusedAcrossShardsToo() {
        Map<String, byte[]> tensors = tensors();
        List<Entry> twice = new ArrayList<>(entries(tensors));
        twice.add(twice.getFirst());
        Path out = dir.resolve("twice");
        StloadException e = assertThrows(StloadException.class,
                () -> ShardedWriter.write(out, METADATA, twice, from(tensors), 3000));
        assertEquals("tensor name given twice: " + twice.getFirst().name(), e.detail());
        assertFalse(Files.exists(out));
    }

    @Test
    void aFolderThatIsNotEmptyIsNeitherOverwrittenNorMixedInto() throws IOException {
        Path out = Files.createDirectories(dir.resolve("taken"));
        Files.writeString(out.resolve("keep.txt"), "mine");
        Map<String, byte[]> tensors = tensors();
        StloadException taken = assertThrows(StloadException.class,
                () -> ShardedWriter.write(out, null, entries(tensors), from(tensors), 4000));
        assertEquals("Usage: " + out + ": exists and is not empty; choose a new folder", taken.getMessage());
        assertEquals(List.of("keep.txt"), List.of(out.toFile().list()));

        Path empty = Files.createDirectories(dir.resolve("empty"));
        ShardedWriter.write(empty, null, entries(tensors), from(tensors), 4000);
        assertSameTensors(tensors, empty);
    }

    /** Refused before a byte is written: after the whole output, the rename over it would fail with EBUSY. */
    @Test
    void anEmptyMountPointIsRefusedBeforeAnythingIsWritten() throws Exception {
        Path mount = Files.createDirectories(dir.resolve("mount"));
        Assumptions.assumeTrue(run("mount", "-t", "tmpfs", "tmpfs", mount.toString()) == 0,
                "mounting a tmpfs takes root");
        try {
            Map<String, byte[]> tensors = tensors();
            StloadException e = assertThrows(StloadException.class,
                    () -> ShardedWriter.write(mount, null, entries(tensors), from(tensors), 4000));
            assertTrue(e.detail().startsWith("is a mount point"), e.detail());
            assertEquals(List.of("mount"), List.of(dir.toFile().list()), "nothing written beside it");
        } finally {
            assertEquals(0, run("umount", mount.toString()));
        }
    }

    /** The reference implementation reads every shard, and every tensor has the bytes written. */
    @Test
    void theReferenceSafetensorsLibraryReadsTheShards() throws Exception {
        Assumptions.assumeTrue(PythonSafetensors.available(), "python3 with the safetensors package is not installed");
        Map<String, byte[]> tensors = tensors();
        Path out = dir.resolve("ref");
        ShardedWriter.write(out, METADATA, entries(tensors), from(tensors), 4000);
        Map<String, String> expected = new LinkedHashMap<>();
        for (Map.Entry<String, byte[]> t : tensors.entrySet()) {
            expected.put(t.getKey(), java.util.HexFormat.of().formatHex(t.getValue()));
        }
        assertEquals(expected, PythonSafetensors.readHex(out));
    }
}
