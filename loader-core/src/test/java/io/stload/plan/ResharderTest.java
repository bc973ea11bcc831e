package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.PythonSafetensors;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Per-rank checkpoints: each rank folder holds exactly what a rank loads from the original under the same rules. */
class ResharderTest {
    @TempDir
    static Path dir;
    static Checkpoint original;

    /** Column-parallel (dim 0), row-parallel (dim 1, strided runs) and replicated tensors, over two files. */
    @BeforeAll
    static void writeOriginal() throws IOException {
        SplittableRandom random = new SplittableRandom(7);
        Path in = Files.createDirectories(dir.resolve("in"));
        SafetensorsWriter.write(in.resolve("a.safetensors"), Map.of("format", "pt"), List.of(
                tensor(random, "model.layers.0.self_attn.q_proj.weight", 8, 6),
                tensor(random, "model.layers.0.self_attn.o_proj.weight", 6, 8)));
        SafetensorsWriter.write(in.resolve("b.safetensors"), Map.of("format", "pt"), List.of(
                tensor(random, "model.norm.weight", 6),
                tensor(random, "model.layers.0.mlp.down_proj.weight", 5, 7)));
        original = Checkpoint.open(in);
    }

    private static TensorData tensor(SplittableRandom random, String name, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        byte[] b = new byte[(int) n * 4];
        random.nextBytes(b);
        return new TensorData(name, DType.F32, shape, b);
    }

    private static Map<String, byte[]> bytes(LoadedWeights w) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (Tensor t : w.tensors().values()) {
            out.put(t.name() + " " + t.shape(), t.data().toArray(ValueLayout.JAVA_BYTE));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void eachRankFolderIsWhatThatRankLoadsFromTheOriginal(int worldSize) throws IOException {
        Path out = dir.resolve("out-" + worldSize);
        Partitioning rules = new Partitioning(0, worldSize, PartitionSpec.defaults());
        List<Path> folders = Resharder.reshard(original, out, rules, Long.MAX_VALUE);
        assertEquals(worldSize, folders.size());
        for (int r = 0; r < worldSize; r++) {
            assertEquals(Optional.of(folders.get(r)), Resharder.rankFolder(out, r, worldSize));
            LoadOptions rank = LoadOptions.DEFAULTS.withPartitioning(new Partitioning(r, worldSize, PartitionSpec.defaults()));
            try (LoadedWeights expected = new Loader().execute(new Planner().plan(original, rank), LoadListener.NONE);
                 LoadedWeights got = Loader.load(folders.get(r), LoadOptions.DEFAULTS)) {
                Map<String, byte[]> want = bytes(expected);
                Map<String, byte[]> have = bytes(got);
                assertEquals(want.keySet(), have.keySet(), "rank " + r);
                for (Map.Entry<String, byte[]> t : want.entrySet()) {
                    assertArrayEquals(t.getValue(), have.get(t.getKey()), t.getKey() + " of rank " + r);
                }
            }
            assertEquals(List.of(folders.get(r).resolve("model.safetensors")),
                    Files.list(folders.get(r)).toList(), "one contiguous file per rank");
            assertEquals(Map.of("format", "pt"), Checkpoint.open(folders.get(r)).files().getFirst().metadata());
        }
    }

    /** A source rewritten in place after its header was read fails the reshard, as it fails a load: no OUT. */
    @Test
    void aSourceRewrittenInPlaceFailsTheReshardAndLeavesNoOutput() throws IOException {
        Path in = Files.createDirectories(dir.resolve("rewritten"));
        Files.copy(dir.resolve("in/a.safetensors"), in.resolve("a.safetensors"));
        Path out = dir.resolve("from-rewritten");
        try (Checkpoint c = Checkpoint.open(in)) {
            Path file = in.resolve("a.safetensors");
            Files.setLastModifiedTime(file, FileTime.fromMillis(Files.getLastModifiedTime(file).toMillis() + 10_000));
            StloadException e = assertThrows(StloadException.class, () -> Resharder.reshard(c, out,
                    new Partitioning(0, 2, PartitionSpec.defaults()), Long.MAX_VALUE));
            assertEquals(ErrorKind.Io, e.kind(), e.getMessage());
        }
        assertFalse(Files.exists(out));
    }

    @Test
    void aRankFolderIsShardedWhenAShardSizeIsGiven() throws IOException {
        Path out = dir.resolve("sharded");
        Resharder.reshard(original, out, new Partitioning(0, 2, PartitionSpec.defaults()), 100);
        Checkpoint rank1 = Checkpoint.open(Resharder.rankFolder(out, 1));
        assertTrue(rank1.files().size() > 1, "files: " + rank1.files().size());
        assertTrue(rank1.index().endsWith("model.safetensors.index.json"));
    }

    @Test
    void aFolderReshardedForAnotherWorldSizeIsAUsageErrorAndAnOrdinaryOneIsNotRanked() throws IOException {
        Path out = dir.resolve("for-two");
        Resharder.reshard(original, out, new Partitioning(0, 2, PartitionSpec.defaults()), Long.MAX_VALUE);
        assertEquals("{\"world_size\": 2}\n", Files.readString(out.resolve(Resharder.WORLD_FILE)));
        StloadException e = assertThrows(StloadException.class, () -> Resharder.rankFolder(out, 0, 4));
        assertEquals(ErrorKind.Usage, e.kind());
        assertTrue(e.getMessage().contains("resharded for a world size of 2, not 4"), e.getMessage());
        assertEquals(Optional.empty(), Resharder.rankFolder(original.path(), 0, 2));
    }

    /**
     * The world size is read from the record, not from the folders there: a node's copy holding only its own rank's
     * folder loads that rank, and one that lost a folder is never taken for a smaller world.
     */
    @Test
    void theRecordedWorldSizeDecidesNotTheFoldersPresent() throws IOException {
        Path out = dir.resolve("recorded");
        Resharder.reshard(original, out, new Partitioning(0, 2, PartitionSpec.defaults()), Long.MAX_VALUE);
        Path rank0Only = Files.createDirectories(dir.resolve("rank0-only"));
        Files.copy(out.resolve(Resharder.WORLD_FILE), rank0Only.resolve(Resharder.WORLD_FILE));
        Files.createDirectories(Resharder.rankFolder(rank0Only, 0));
        Files.copy(Resharder.rankFolder(out, 0).resolve("model.safetensors"),
                Resharder.rankFolder(rank0Only, 0).resolve("model.safetensors"));

        assertEquals(Optional.of(Resharder.rankFolder(rank0Only, 0)), Resharder.rankFolder(rank0Only, 0, 2));
        assertEquals(ErrorKind.MissingShard,
                assertThrows(StloadException.class, () -> Resharder.rankFolder(rank0Only, 1, 2)).kind());
        StloadException asWhole = assertThrows(StloadException.class, () -> Resharder.rankFolder(rank0Only, 0, 1));
        assertEquals(ErrorKind.Usage, asWhole.kind());
        assertTrue(asWhole.getMessage().contains("resharded for a world size of 2, not 1"), asWhole.getMessage());

        for (String record : new String[] {"{\"world_size\": 0}", "{\"world_size\": \"2\"}", "[2]", "{}", "not json",
                "{\"world_size\": 99999999999999999999}", "{\"world_size\": 2} {}"}) {
            Files.writeString(rank0Only.resolve(Resharder.WORLD_FILE), record);
            assertEquals(ErrorKind.InvalidIndex,
                    assertThrows(StloadException.class, () -> Resharder.rankFolder(rank0Only, 0, 2)).kind(), record);
        }
        Files.delete(rank0Only.resolve(Resharder.WORLD_FILE));
        StloadException unrecorded = assertThrows(StloadException.class, () -> Resharder.rankFolder(rank0Only, 0, 1));
        assertEquals(ErrorKind.InvalidIndex, unrecorded.kind());
        assertTrue(unrecorded.getMessage().contains("no reshard.json"), unrecorded.getMessage());
    }

    @Test
    void theReferenceSafetensorsLibraryReadsEveryRankFolder() throws Exception {
        Assumptions.assumeTrue(PythonSafetensors.available(), "python3 with the safetensors package is not installed");
        Path out = dir.resolve("ref");
        Resharder.reshard(original, out, new Partitioning(0, 2, PartitionSpec.defaults()), Long.MAX_VALUE);
        for (int r = 0; r < 2; r++) {
            Map<String, String> expected = new LinkedHashMap<>();
            try (LoadedWeights w = Loader.load(Resharder.rankFolder(out, r), LoadOptions.DEFAULTS)) {
                w.tensors().values().forEach(t -> expected.put(t.name(), HexFormat.of().formatHex(t.data().toArray(ValueLayout.JAVA_BYTE))));
            }
            assertEquals(expected, PythonSafetensors.readHex(Resharder.rankFolder(out, r)), "rank " + r);
        }
    }
}
