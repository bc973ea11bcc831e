package io.stload.benchdata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.FolderLock;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.TensorInfo;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointGeneratorTest {
    private static final long MIB = 1L << 20;

    @TempDir
    Path tmp;

    @Test
    void singleFileLlamaParsesAndHitsTheRequestedSize() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 4 * MIB);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp);

        assertEquals(List.of(tmp.resolve("model.safetensors")), summary.files());
        assertNull(summary.index());
        assertFalse(Files.exists(tmp.resolve("model.safetensors.index.json")));
        Header header = HeaderParser.read(summary.files().get(0));
        assertEquals(summary.tensors(), header.tensors().size());
        assertEquals(summary.tensorBytes(), header.dataBytes());
        assertWithinOnePercent(spec.totalBytes(), header.dataBytes());
        assertEquals(spec.fileMetadata(), header.metadata());
    }

    @Test
    void llamaHasTheHuggingFaceTensorNamesAndShapes() throws IOException {
        CheckpointSummary summary = CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, 4 * MIB), tmp);
        Header header = HeaderParser.read(summary.files().get(0));
        long h = summary.dimensions().hidden();
        long vocab = summary.dimensions().vocab();

        assertEquals(32 * 9 + 3, header.tensors().size());
        assertShape(header, "model.embed_tokens.weight", vocab, h);
        assertShape(header, "model.layers.3.self_attn.q_proj.weight", h, h);
        assertShape(header, "model.layers.3.self_attn.k_proj.weight", h / 4, h);
        assertShape(header, "model.layers.31.mlp.down_proj.weight", h, h * 7 / 2);
        assertShape(header, "model.layers.0.post_attention_layernorm.weight", h);
        assertShape(header, "model.norm.weight", h);
        assertShape(header, "lm_head.weight", vocab, h);
        header.tensors().forEach(t -> assertEquals(DType.BF16, t.dtype()));
    }

    @Test
    void moeHasThousandsOfExpertTensors() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.MOE, 8 * MIB);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp);
        Header header = HeaderParser.read(summary.files().get(0));

        long experts = header.tensors().stream().filter(t -> t.name().contains(".mlp.experts.")).count();
        assertEquals(16 * 64 * 3, experts);
        assertShape(header, "model.layers.15.mlp.experts.63.up_proj.weight",
                summary.dimensions().hidden() / 2, summary.dimensions().hidden());
        assertShape(header, "model.layers.0.mlp.gate.weight", 64, summary.dimensions().hidden());
        assertWithinOnePercent(spec.totalBytes(), header.dataBytes());
    }

    @Test
    void shardsStayUnderTheLimitAndTheIndexNamesEveryTensor() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 6 * MIB).withShardBytes(2 * MIB);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp);

        int n = summary.files().size();
        assertTrue(n >= 3 && n <= 4, "6 MiB in shards of 2 MiB makes 3 or 4 shards, not " + n);
        for (int i = 0; i < n; i++) {
            Path shard = summary.files().get(i);
            assertEquals(String.format("model-%05d-of-%05d.safetensors", i + 1, n), shard.getFileName().toString());
            assertTrue(HeaderParser.read(shard).dataBytes() <= spec.shardBytes());
        }
        Checkpoint checkpoint = Checkpoint.open(tmp);
        assertEquals(summary.index(), checkpoint.index());
        assertEquals(summary.tensors(), checkpoint.tensors().size());
        assertEquals(summary.tensorBytes(), checkpoint.totalBytes());
        String index = Files.readString(summary.index());
        assertTrue(index.contains("\"total_size\" : " + summary.tensorBytes()), index);
    }

    @Test
    void aTensorLargerThanTheShardLimitGetsAShardOfItsOwn() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 2 * MIB).withShardBytes(64 << 10);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp);

        Header first = HeaderParser.read(summary.files().get(0));
        assertEquals(List.of("model.embed_tokens.weight"), first.tensors().stream().map(TensorInfo::name).toList());
        assertTrue(first.dataBytes() > spec.shardBytes());
        assertEquals(summary.tensors(), Checkpoint.open(tmp).tensors().size());
    }

    @Test
    void theSameSpecGivesIdenticalFilesAndAnotherSeedDifferentData() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.MOE, 3 * MIB).withShardBytes(MIB);
        CheckpointSummary a = CheckpointGenerator.generate(spec, tmp.resolve("a"));
        CheckpointSummary b = CheckpointGenerator.generate(spec, tmp.resolve("b"));
        CheckpointSummary c = CheckpointGenerator.generate(spec.withSeed(7), tmp.resolve("c"));

        assertEquals(a.files().size(), b.files().size());
        for (int i = 0; i < a.files().size(); i++) {
            assertEquals(-1, Files.mismatch(a.files().get(i), b.files().get(i)), "shard " + i + " differs");
        }
        assertEquals(-1, Files.mismatch(a.index(), b.index()));
        Header ha = HeaderParser.read(a.files().get(0));
        Header hc = HeaderParser.read(c.files().get(0));
        assertEquals(ha.tensors(), hc.tensors(), "the seed changes data, not the layout");
        assertFalse(Arrays.equals(dataOf(ha), dataOf(hc)));
    }

    @Test
    void noTwoTensorsShareTheirBytes() throws IOException {
        CheckpointSummary summary = CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.MOE, 2 * MIB), tmp);
        Header header = HeaderParser.read(summary.files().get(0));
        byte[] all = Files.readAllBytes(header.file());
        Set<String> prefixes = new HashSet<>();
        for (TensorInfo t : header.tensors()) {
            int from = (int) (header.dataStart() + t.begin());
            prefixes.add(Arrays.toString(Arrays.copyOfRange(all, from, from + 16)));
        }
        assertEquals(header.tensors().size(), prefixes.size());
    }

    @Test
    void reusesACheckpointOfTheSameSpecAndRegeneratesAnother(@TempDir Path other) throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 2 * MIB).withShardBytes(MIB);
        assertTrue(CheckpointGenerator.reuseOrGenerate(spec, tmp).generated());
        CheckpointSummary again = CheckpointGenerator.reuseOrGenerate(spec, tmp);
        assertFalse(again.generated());
        assertEquals(CheckpointGenerator.generate(spec, other.resolve("fresh")).fileBytes(), again.fileBytes());

        Files.delete(again.index());
        assertTrue(CheckpointGenerator.reuseOrGenerate(spec, tmp).generated(), "no index: incomplete");
        assertTrue(CheckpointGenerator.reuseOrGenerate(spec.withSeed(1), tmp).generated(), "other seed");
    }

    @Test
    void replacesItsOwnEarlierOutputButNothingElse() throws IOException {
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withShardBytes(MIB / 4), tmp);
        CheckpointSummary single = CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB), tmp);
        assertEquals(List.of(CheckpointGenerator.MARKER, "model.safetensors"), names(tmp), "the shards went away");
        assertEquals(single.files(), List.of(tmp.resolve("model.safetensors")));

        // A file of the user's beside them: refused, and nothing is touched.
        Files.writeString(tmp.resolve("notes.txt"), "mine");
        byte[] before = Files.readAllBytes(tmp.resolve("model.safetensors"));
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                () -> CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withSeed(3), tmp));
        assertTrue(e.getReason().contains("holds files gen did not write (notes.txt)"), e.getReason());
        assertEquals(List.of(CheckpointGenerator.MARKER, "model.safetensors", "notes.txt"), names(tmp));
        assertArrayEquals(before, Files.readAllBytes(tmp.resolve("model.safetensors")));
    }

    /**
     * A run into a directory another run is writing (its lock held: here by this JVM, through a descriptor of its own,
     * as flock(2) counts them) is refused before it touches a file; the other run's files stay as they were.
     */
    @Test
    void aDirectoryAnotherRunIsWritingIsRefusedUntouched() throws IOException {
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withShardBytes(MIB / 2), tmp);
        Map<String, byte[]> before = contents(tmp);
        Path link = Files.createSymbolicLink(tmp.resolveSibling(tmp.getFileName() + "-link"), tmp);
        try (FolderLock other = FolderLock.tryTake(tmp).orElseThrow()) {
            for (Path named : List.of(tmp, link)) {
                FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                        () -> CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withSeed(2), named));
                assertTrue(e.getReason().contains("another gen is writing it now"), e.getReason());
            }
        } finally {
            Files.delete(link);
        }
        Map<String, byte[]> after = contents(tmp);
        assertEquals(before.keySet(), after.keySet());
        before.forEach((name, bytes) -> assertArrayEquals(bytes, after.get(name), name));
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withSeed(2), tmp); // once it is let go
        assertEquals(List.of(CheckpointGenerator.MARKER, "model.safetensors"), names(tmp));
    }

    /** A run killed while it wrote its marker leaves only the marker staged, which the next run takes for its own. */
    @Test
    void aStagedMarkerAloneIsAKilledRunsAndIsReplaced() throws IOException {
        Files.writeString(tmp.resolve(CheckpointGenerator.MARKER + ".partial"), "# written by stload gen");
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB), tmp);
        assertEquals(List.of(CheckpointGenerator.MARKER, "model.safetensors"), names(tmp));
    }

    /** A real checkpoint in the hub's names, written by something else: gen must never overwrite or delete it. */
    @Test
    void refusesADirectoryHoldingACheckpointItDidNotWrite(@TempDir Path other) throws IOException {
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withShardBytes(MIB / 2).withSeed(9), other);
        Files.delete(other.resolve(CheckpointGenerator.MARKER)); // as a download leaves it: the same names, no marker
        Map<String, byte[]> before = contents(other);
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                () -> CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withShardBytes(MIB / 2), other));
        assertTrue(e.getReason().contains("holds files gen did not write (model-00001-of-"), e.getReason());
        Map<String, byte[]> after = contents(other);
        assertEquals(before.keySet(), after.keySet());
        before.forEach((name, bytes) -> assertArrayEquals(bytes, after.get(name), name));
    }

    /** The writing thread interrupted (as a signal handler stops it) mid-shard: nothing of the run stays. */
    @Test
    void anInterruptedRunLeavesNothing(@TempDir Path other) throws Exception {
        Path target = other.resolve("ckpt");
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            try {
                CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, 1L << 30).withShardBytes(16 * MIB), target);
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        writer.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // Two shards staged: the run is well under way (polling a directory: there is no event to wait on).
        while (!stagedSecondShard(target)) {
            assertTrue(writer.isAlive(), "the run ended early: " + failed.get());
            assertTrue(System.nanoTime() < deadline, "no second shard was staged");
            Thread.sleep(5);
        }
        writer.interrupt();
        writer.join(TimeUnit.SECONDS.toMillis(60));
        assertFalse(writer.isAlive());
        assertTrue(failed.get() instanceof IOException, String.valueOf(failed.get()));
        assertFalse(Files.exists(target), () -> "left behind: " + (Files.exists(target) ? namesOrNone(target) : ""));
    }

    /** A disk that fills while the index is written is an IOException, as for any other file. */
    @Test
    void aFullDiskWhileTheIndexIsWrittenIsAnIoException() throws IOException {
        Path devFull = Path.of("/dev/full");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(devFull), "no /dev/full here");
        Path index = tmp.resolve("model.safetensors.index.json");
        Files.createSymbolicLink(index.resolveSibling(index.getFileName() + ".tmp-" + ProcessHandle.current().pid()),
                devFull);
        IOException e = assertThrows(IOException.class, () -> ShardIndexWriter.write(index, 8, Map.of("w", "a")));
        assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        assertEquals(List.of(), names(tmp));
    }

    private static boolean stagedSecondShard(Path dir) throws IOException {
        return Files.isDirectory(dir) && names(dir).stream().anyMatch(n -> n.matches("model-00002-of-\\d{5}\\.safetensors\\.partial"));
    }

    private static String namesOrNone(Path dir) {
        try {
            return names(dir).toString();
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    private static Map<String, byte[]> contents(Path dir) throws IOException {
        Map<String, byte[]> all = new java.util.TreeMap<>();
        for (String name : names(dir)) {
            all.put(name, Files.readAllBytes(dir.resolve(name)));
        }
        return all;
    }

    @Test
    void otherDtypesScaleToTheSameByteBudget() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 4 * MIB).withDtype(DType.F32);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp);
        Header header = HeaderParser.read(summary.files().get(0));
        header.tensors().forEach(t -> assertEquals(DType.F32, t.dtype()));
        assertWithinOnePercent(spec.totalBytes(), header.dataBytes());
    }

    /** Every BOOL byte is 0 or 1, both of them present: another value is no boolean to torch. */
    @Test
    void booleansAreZeroOrOne() throws IOException {
        CheckpointSummary summary = CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB)
                .withDtype(DType.BOOL), tmp);
        Header header = HeaderParser.read(summary.files().get(0));
        byte[] data = Arrays.copyOfRange(Files.readAllBytes(summary.files().get(0)), (int) header.dataStart(),
                (int) header.fileSize());
        Set<Byte> values = new HashSet<>();
        for (byte b : data) {
            values.add(b);
        }
        assertEquals(Set.of((byte) 0, (byte) 1), values);
    }

    @Test
    void sizesAcrossTheRangeComeOutWithinOnePercent() {
        for (ShapeKind shape : List.of(ShapeKind.LLAMA, ShapeKind.MOE)) { // MATRIX is sized by its rows, not fitted
            for (long size : new long[]{MIB, 256 * MIB, 4L << 30, 16_000_000_000L}) {
                ModelDimensions dims = ModelDimensions.fit(shape, size, DType.BF16);
                long bytes = dims.tensors(DType.BF16).stream().mapToLong(e -> e.byteSize()).sum();
                assertTrue(bytes <= size);
                assertWithinOnePercent(size, bytes);
                assertTrue(dims.vocab() >= shape.nominalVocab(dims.hidden()), dims.toString());
            }
        }
    }

    @Test
    void matricesHaveUniformRowsOfTheRequestedSize() throws IOException {
        CheckpointSpec spec = new CheckpointSpec(ShapeKind.MATRIX, MIB + 100, CheckpointSpec.SINGLE_FILE, 5, DType.BF16, 8192);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp.resolve("many"));
        Header header = HeaderParser.read(summary.files().get(0));

        assertEquals(16, header.tensors().size());
        header.tensors().forEach(t -> assertArrayEquals(new long[] {8, 4096}, t.shape().toArray(), t.name()));
        assertEquals(MIB, header.dataBytes(), "whole rows only");
        assertEquals("8192", header.metadata().get("stload.benchdata.row_bytes"));

        Header few = HeaderParser.read(CheckpointGenerator.generate(
                new CheckpointSpec(ShapeKind.MATRIX, 3 * 8192 + 1, 0, 5, DType.F32, 8192), tmp.resolve("few")).files().get(0));
        assertEquals(List.of(1L, 1L, 1L), few.tensors().stream().map(t -> t.dim(0)).toList());
        few.tensors().forEach(t -> assertEquals(2048, t.dim(1)));
    }

    @Test
    void aRowSizeBelongsToTheMatrixShapeAndMustHoldWholeElements() {
        assertThrows(IllegalArgumentException.class, () -> CheckpointSpec.of(ShapeKind.MATRIX, MIB));
        assertThrows(IllegalArgumentException.class, () -> new CheckpointSpec(ShapeKind.LLAMA, MIB, 0, 1, DType.BF16, 8192));
        assertThrows(IllegalArgumentException.class, () -> new CheckpointSpec(ShapeKind.MATRIX, MIB, 0, 1, DType.F32, 6));
        assertThrows(IllegalArgumentException.class, () -> new CheckpointSpec(ShapeKind.MATRIX, 100, 0, 1, DType.BF16, 128));
        assertThrows(IllegalArgumentException.class, () -> ModelDimensions.fit(ShapeKind.MATRIX, MIB, DType.BF16));
    }

    @Test
    void sixteenGigabytesOfLlamaIsLlama3EightBWide() {
        assertEquals(4096, ModelDimensions.fit(ShapeKind.LLAMA, 16_200_000_000L, DType.BF16).hidden());
    }

    @Test
    void tooSmallABudgetIsRefusedWithTheSmallestSize() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.MOE, 1000), tmp));
        assertTrue(e.getMessage().contains("smallest"), e.getMessage());
    }

    private static void assertShape(Header header, String name, long... shape) {
        TensorInfo t = header.tensor(name);
        assertArrayEquals(shape, t.shape().toArray(), name);
    }

    private static void assertWithinOnePercent(long expected, long actual) {
        assertTrue(Math.abs(expected - actual) <= expected / 100,
                "expected about " + expected + " bytes, got " + actual);
    }

    private static byte[] dataOf(Header header) throws IOException {
        byte[] all = Files.readAllBytes(header.file());
        return Arrays.copyOfRange(all, (int) header.dataStart(), all.length);
    }
}
