package io.stload.benchdata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
    void reusesACheckpointOfTheSameSpecAndRegeneratesAnother() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 2 * MIB).withShardBytes(MIB);
        assertTrue(CheckpointGenerator.reuseOrGenerate(spec, tmp).generated());
        CheckpointSummary again = CheckpointGenerator.reuseOrGenerate(spec, tmp);
        assertFalse(again.generated());
        assertEquals(CheckpointGenerator.generate(spec, tmp.resolve("fresh")).fileBytes(), again.fileBytes());

        Files.delete(again.index());
        assertTrue(CheckpointGenerator.reuseOrGenerate(spec, tmp).generated(), "no index: incomplete");
        assertTrue(CheckpointGenerator.reuseOrGenerate(spec.withSeed(1), tmp).generated(), "other seed");
    }

    @Test
    void refusesADirectoryHoldingAnotherCheckpoint() throws IOException {
        CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB).withShardBytes(MIB / 4), tmp);
        assertThrows(java.nio.file.FileAlreadyExistsException.class,
                () -> CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, MIB), tmp));
    }

    @Test
    void otherDtypesScaleToTheSameByteBudget() throws IOException {
        CheckpointSpec spec = CheckpointSpec.of(ShapeKind.LLAMA, 4 * MIB).withDtype(DType.F32);
        CheckpointSummary summary = CheckpointGenerator.generate(spec, tmp);
        Header header = HeaderParser.read(summary.files().get(0));
        header.tensors().forEach(t -> assertEquals(DType.F32, t.dtype()));
        assertWithinOnePercent(spec.totalBytes(), header.dataBytes());
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
