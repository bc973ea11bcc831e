package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.load.Digests;
import io.stload.plan.Partitioning;
import io.stload.plan.PartitionSpec;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code --rank}, {@code --world-size} and {@code --partition} on {@code plan} and {@code load}. */
class TensorParallelCommandTest {
    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();

    @BeforeAll
    static void generate() {
        StringWriter sink = new StringWriter();
        int rc = Main.run(new String[] {"gen", dir.resolve("ckpt").toString(), "--size", "3MiB", "--shard-size", "1MiB",
                "--seed", "5"}, new PrintWriter(sink, true), new PrintWriter(sink, true));
        assertEquals(0, rc, sink.toString());
        checkpoint = Checkpoint.open(dir.resolve("ckpt"));
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"mmap", "prefetch", "direct"})
    void loadDigestsAreThoseOfEachRanksSlices(String strategy) throws IOException {
        for (int rank = 0; rank < 3; rank++) {
            out.getBuffer().setLength(0);
            assertEquals(0, run("load", checkpoint.path().toString(), "--rank", "" + rank, "--world-size", "3",
                    "--partition", "default", "--load-strategy", strategy, "--digest"), err.toString());
            String text = out.toString();
            assertTrue(text.contains("(rank " + rank + " of 3)"), text);
            for (TensorSlice s : RankSlices.of(checkpoint, new Partitioning(rank, 3, PartitionSpec.defaults())).values()) {
                assertTrue(text.contains(expectedDigest(s) + "  " + s.name()), s.name() + " in\n" + text);
            }
        }
    }

    @Test
    void splitsAreReallyCutAndSmallTensorsReplicated() {
        Partitioning rank0 = new Partitioning(0, 2, PartitionSpec.defaults());
        Map<String, TensorSlice> slices = RankSlices.of(checkpoint, rank0);
        TensorSlice q = slices.get("model.layers.0.self_attn.q_proj.weight");
        TensorSlice o = slices.get("model.layers.0.self_attn.o_proj.weight");
        TensorSlice norm = slices.get("model.norm.weight");
        assertEquals(q.tensor().info().dim(0) / 2, q.local().dim(0));
        assertEquals(o.tensor().info().dim(1) / 2, o.local().dim(1));
        assertTrue(norm.isWhole());
    }

    @Test
    void planShowsTheBytesOfEveryRank() {
        assertEquals(0, run("plan", checkpoint.path().toString(), "--rank", "1", "--world-size", "4"), err.toString());
        String text = out.toString();
        assertTrue(text.contains("rank 1 of 4 (partition rules: default)"), text);
        assertTrue(text.contains(" 0: ") && text.contains(" 3: "), text);
        out.getBuffer().setLength(0);
        assertEquals(0, run("plan", checkpoint.path().toString(), "--rank", "1", "--world-size", "4", "--json"));
        assertTrue(out.toString().contains("\"bytes_per_rank\":[") && out.toString().contains("\"reads\":[["), out.toString());
    }

    @Test
    void aRulesFileIsUsedAndFirstMatchWins(@TempDir Path scratch) throws IOException {
        Path rules = Files.writeString(scratch.resolve("tp.json"), """
                {"rules": [{"pattern": "*.norm.weight", "replicate": true}, {"pattern": "*", "split": 0}]}""");
        assertEquals(0, run("load", checkpoint.path().toString(), "--rank", "0", "--world-size", "2",
                "--partition", rules.toString(), "--digest"), err.toString());
        Partitioning p = new Partitioning(0, 2, PartitionSpec.load(rules.toString()));
        Map<String, TensorSlice> slices = RankSlices.of(checkpoint, p);
        TensorSlice norm = slices.get("model.norm.weight");
        TensorSlice embed = slices.get("model.embed_tokens.weight");
        assertTrue(norm.isWhole());
        assertNotEquals(embed.tensor().info().byteSize(), embed.byteSize());
        assertTrue(out.toString().contains(expectedDigest(embed) + "  " + embed.name()), out.toString());
    }

    @Test
    void badRankOrWorldSizeOrRulesAreOneLineUsageErrors(@TempDir Path scratch) throws IOException {
        String[][] cases = {
                {"--rank", "2", "--world-size", "2"},
                {"--rank", "-1", "--world-size", "2"},
                {"--world-size", "0"},
                {"--rank", "1"},
                {"--world-size", "2", "--partition", scratch.resolve("missing.json").toString()},
                {"--world-size", "2", "--partition", Files.writeString(scratch.resolve("bad.json"),
                        "{\"rules\": [{\"pattern\": \"*\", \"split\": 0, \"replicate\": true}]}").toString()},
        };
        for (String[] flags : cases) {
            for (String command : new String[] {"plan", "load"}) {
                err.getBuffer().setLength(0);
                String[] args = new String[flags.length + 2];
                args[0] = command;
                args[1] = checkpoint.path().toString();
                System.arraycopy(flags, 0, args, 2, flags.length);
                assertEquals(2, run(args), String.join(" ", args) + ": " + err);
                assertEquals(1, err.toString().lines().count(), err.toString());
                assertTrue(err.toString().startsWith("error: Usage: "), err.toString());
            }
        }
    }

    @Test
    void maxGapDecidesWhetherStridedRunsAreReadThroughOrSeparately(@TempDir Path scratch) throws IOException {
        // 32 rows of 8 KiB: rank 0 of 2, split on dimension 1, reads the first 4 KiB of each, 4 KiB apart.
        Path matrices = scratch.resolve("m");
        assertEquals(0, run("gen", matrices.toString(), "--shape", "matrix", "--row-bytes", "8KiB", "--size", "256KiB"),
                err.toString());
        Path rules = Files.writeString(scratch.resolve("cols.json"), "{\"rules\": [{\"pattern\": \"*\", \"split\": 1}]}");
        assertEquals(1, plannedReads(matrices, rules, "4KiB"));
        assertEquals(1, plannedReads(matrices, rules, null), "the default reads 4 KiB gaps through");
        assertEquals(32, plannedReads(matrices, rules, "4095"));
        assertEquals(32, plannedReads(matrices, rules, "0"));

        err.getBuffer().setLength(0);
        assertEquals(2, run("load", matrices.toString(), "--max-gap", "lots"));
        assertTrue(err.toString().startsWith("error: Usage: --max-gap: not a size: 'lots'"), err.toString());
        assertEquals(2, run("gen", scratch.resolve("n").toString(), "--shape", "matrix"));
        assertEquals(2, run("gen", scratch.resolve("n").toString(), "--row-bytes", "8KiB"));
    }

    @SuppressWarnings("unchecked")
    private int plannedReads(Path checkpoint, Path rules, String maxGap) {
        out.getBuffer().setLength(0);
        List<String> args = new ArrayList<>(List.of("plan", checkpoint.toString(), "--world-size", "2",
                "--partition", rules.toString(), "--json"));
        if (maxGap != null) {
            args.addAll(List.of("--max-gap", maxGap));
        }
        assertEquals(0, run(args.toArray(String[]::new)), err.toString());
        List<Object> files = (List<Object>) JsonReplies.parse(out.toString()).get("files");
        return ((List<Object>) ((Map<String, Object>) files.get(0)).get("reads")).size();
    }

    /** CRC-32 of the slice's runs, read from the file and laid end to end. */
    static String expectedDigest(TensorSlice s) throws IOException {
        try (Arena arena = Arena.ofConfined();
             FileChannel ch = FileChannel.open(s.tensor().file().file(), StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            MemorySegment slice = arena.allocate(Math.max(1, s.byteSize())).asSlice(0, s.byteSize());
            TensorSlice.Part p = s.parts().getFirst(); // the default rules' slices are one part each
            for (long k = 0; k < p.count(); k++) {
                MemorySegment.copy(file, p.start() + k * p.stride(), slice, k * p.runBytes(), p.runBytes());
            }
            return Digests.crc32(slice);
        }
    }
}
