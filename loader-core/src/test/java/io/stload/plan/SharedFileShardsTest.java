package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Shards that are one file under several names (hard links): what a checkpoint holds, plans and reads does not
 * grow with the number of names. The file's table is parsed and held once, the tensors each shard holds but
 * is not mapped are a view rather than a copy per shard, and each tensor is planned and read from the one
 * shard the index maps it to.
 */
class SharedFileShardsTest {
    static final int TENSORS = 12;
    static final int LINKS = 4;

    @TempDir
    Path dir;

    /** One file of {@link #TENSORS} 4-byte tensors under {@link #LINKS} names; the index deals them out in turn. */
    private Checkpoint linkedShards() throws IOException {
        List<TensorData> data = new ArrayList<>();
        for (int i = 0; i < TENSORS; i++) {
            data.add(new TensorData(name(i), DType.U8, new long[] {4}, new byte[] {(byte) i, 1, 2, 3}));
        }
        SafetensorsWriter.write(dir.resolve("s0.safetensors"), null, data);
        for (int k = 1; k < LINKS; k++) {
            Files.createLink(dir.resolve("s" + k + ".safetensors"), dir.resolve("s0.safetensors"));
        }
        StringBuilder json = new StringBuilder("{\"weight_map\":{");
        for (int i = 0; i < TENSORS; i++) {
            json.append(i == 0 ? "" : ",").append("\"").append(name(i)).append("\":\"s").append(i % LINKS)
                    .append(".safetensors\"");
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), json.append("}}"));
        return Checkpoint.open(dir);
    }

    private static String name(int i) {
        return "layers." + i + ".weight";
    }

    @Test
    void oneFileUnderManyNamesIsParsedAndHeldOnce() throws IOException {
        try (Checkpoint ckpt = linkedShards()) {
            assertEquals(LINKS, ckpt.files().size());
            assertEquals(TENSORS, ckpt.tensors().size());
            Header first = ckpt.files().getFirst();
            for (Header h : ckpt.files()) {
                assertSame(first.tensor(name(0)), h.tensor(name(0)), h.file() + " shares the parsed table");
                assertEquals(dir.resolve(ckpt.nameOf(h)), h.file(), "each keeps its own name");
            }
            for (int i = 0; i < TENSORS; i++) {
                assertEquals("s" + (i % LINKS) + ".safetensors", ckpt.nameOf(ckpt.tensor(name(i)).file()));
            }
            // Each shard holds all 12 tensors and is mapped 3: the other 9, in data order, as a view.
            Map<String, List<String>> unindexed = ckpt.unindexedTensors();
            assertEquals(LINKS, unindexed.size());
            for (int k = 0; k < LINKS; k++) {
                List<String> expected = new ArrayList<>();
                for (int i = 0; i < TENSORS; i++) {
                    if (i % LINKS != k) {
                        expected.add(name(i));
                    }
                }
                List<String> got = unindexed.get("s" + k + ".safetensors");
                assertEquals(expected, got);
                assertEquals(got, expected);
                assertEquals(expected.hashCode(), got.hashCode());
                assertEquals(expected, new ArrayList<>(got));
                assertEquals(expected.subList(0, 3), got.subList(0, 3));
                assertEquals(expected.get(8), got.get(8));
            }
        }
    }

    @Test
    void eachTensorIsPlannedAndReadFromTheOneShardTheIndexMapsItTo() throws IOException {
        try (Checkpoint ckpt = linkedShards()) {
            LoadPlan plan = new Planner().plan(ckpt, LoadOptions.DEFAULTS);
            for (FilePlan f : plan.files()) {
                int k = Integer.parseInt(ckpt.nameOf(f.file()).substring(1, 2));
                List<String> own = new ArrayList<>();
                for (int i = k; i < TENSORS; i += LINKS) {
                    own.add(name(i));
                }
                assertEquals(own, RankSlices.inFile(f.file(), plan.slices()).stream().map(TensorSlice::name).toList());
                // From the first of its own tensors to the end of its last (gaps between them read through).
                long span = (long) (TENSORS / LINKS - 1) * 4 * LINKS + 4;
                assertEquals(span, f.reads().stream().mapToLong(r -> r.to() - r.from()).sum(), ckpt.nameOf(f.file()));
            }
            Map<String, byte[]> values = new LinkedHashMap<>();
            Set<Long> addresses = new HashSet<>();
            try (LoadedWeights w = Loader.load(ckpt, LoadOptions.DEFAULTS)) {
                w.tensors().forEach((n, t) -> {
                    values.put(n, t.data().toArray(ValueLayout.JAVA_BYTE));
                    addresses.add(t.data().address());
                });
            }
            assertEquals(TENSORS, values.size());
            assertEquals(TENSORS, addresses.size());
            for (int i = 0; i < TENSORS; i++) {
                assertArrayEquals(new byte[] {(byte) i, 1, 2, 3}, values.get(name(i)), name(i));
            }
        }
    }

    @Test
    void aTensorTheIndexMapsElsewhereIsNotReadFromTheShardThatAlsoHoldsIt() throws IOException {
        SafetensorsWriter.write(dir.resolve("a.safetensors"), null, List.of(
                new TensorData("x", DType.U8, new long[] {4}, new byte[] {1, 1, 1, 1}),
                new TensorData("y", DType.U8, new long[] {4}, new byte[] {2, 2, 2, 2})));
        SafetensorsWriter.write(dir.resolve("b.safetensors"), null, List.of(
                new TensorData("y", DType.U8, new long[] {4}, new byte[] {3, 3, 3, 3})));
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\"}}");
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            LoadPlan plan = new Planner().plan(ckpt, LoadOptions.DEFAULTS);
            for (FilePlan f : plan.files()) {
                List<String> read = RankSlices.inFile(f.file(), plan.slices()).stream().map(TensorSlice::name).toList();
                assertEquals(ckpt.nameOf(f.file()).equals("a.safetensors") ? List.of("x") : List.of("y"), read,
                        "x from a, y from b: nothing of a's y");
                assertEquals(4, f.facts().bytesToRead(), ckpt.nameOf(f.file()));
            }
            try (LoadedWeights w = Loader.load(ckpt, LoadOptions.DEFAULTS)) {
                assertArrayEquals(new byte[] {3, 3, 3, 3}, w.tensor("y").data().toArray(ValueLayout.JAVA_BYTE));
            }
        }
    }
}
