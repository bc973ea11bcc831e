package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.RankSlices;
import io.stload.plan.Sizes;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --partition default-experts} on a MoE checkpoint (16 layers of 64 experts): whole experts per rank. */
class ExpertParallelCommandTest {
    private static final int LAYERS = 16;
    private static final int EXPERTS = 64;
    private static final Pattern EXPERT = Pattern.compile("model\\.layers\\.\\d+\\.mlp\\.experts\\.(\\d+)\\..*");

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();

    @BeforeAll
    static void generate() {
        StringWriter sink = new StringWriter();
        int rc = Main.run(new String[] {"gen", dir.resolve("moe").toString(), "--shape", "moe", "--size", "1MiB",
                "--shard-size", "256KiB", "--seed", "9"}, new PrintWriter(sink, true), new PrintWriter(sink, true));
        assertEquals(0, rc, sink.toString());
        checkpoint = Checkpoint.open(dir.resolve("moe"));
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    private static Map<String, TensorSlice> held(int rank) {
        return RankSlices.of(checkpoint, new Partitioning(rank, 4, PartitionSpec.defaultsWithExperts()));
    }

    @Test
    void planShowsEveryRanksBytesAndTheExpertsRule() {
        assertEquals(0, run("plan", checkpoint.path().toString(), "--world-size", "4", "--partition", "default-experts"),
                err.toString());
        String text = out.toString();
        assertTrue(text.contains("rank 0 of 4 (partition rules: default-experts)"), text);
        for (int r = 0; r < 4; r++) {
            assertTrue(text.contains(" " + r + ": " + Sizes.human(RankSlices.bytes(held(r)))), r + " in\n" + text);
        }
        int expertTensors = LAYERS * EXPERTS * 3;
        assertTrue(text.contains("*.experts.* -> experts: " + expertTensors + " tensor(s), " + expertTensors / 4
                + " held by this rank"), text);

        out.getBuffer().setLength(0);
        assertEquals(0, run("plan", checkpoint.path().toString(), "--world-size", "4", "--partition", "default-experts",
                "--json"), err.toString());
        Map<String, Object> json = JsonReplies.parse(out.toString());
        List<Long> perRank = new ArrayList<>();
        for (int r = 0; r < 4; r++) {
            perRank.add(RankSlices.bytes(held(r)));
        }
        assertEquals(perRank, json.get("bytes_per_rank"));
        assertEquals((long) held(0).size(), json.get("tensors"));
        assertEquals(Map.of("rule", "*.experts.* -> experts", "tensors", (long) expertTensors, "held",
                (long) expertTensors / 4, "example", "model.layers.0.mlp.experts.0.gate_proj.weight",
                "gets", "whole experts, dealt in contiguous blocks over 4 ranks"),
                ((List<?>) json.get("rules")).get(0));
    }

    @Test
    void loadReportsOnlyItsOwnExpertsWithTheirDigests() throws IOException {
        assertEquals(0, run("load", checkpoint.path().toString(), "--rank", "1", "--world-size", "4", "--partition",
                "default-experts", "--digest", "--json"), err.toString());
        Map<String, Object> json = JsonReplies.parse(out.toString());
        Map<String, TensorSlice> held = held(1);
        @SuppressWarnings("unchecked")
        Map<String, Object> digests = (Map<String, Object>) json.get("digests");
        assertEquals(List.copyOf(held.keySet()), List.copyOf(digests.keySet()));
        assertEquals((long) held.size(), json.get("tensors"));
        assertEquals(RankSlices.bytes(held), json.get("bytes"));
        int experts = 0;
        for (String name : digests.keySet()) {
            assertEquals(TensorParallelCommandTest.expectedDigest(held.get(name)), digests.get(name), name);
            Matcher m = EXPERT.matcher(name);
            if (m.matches()) {
                int index = Integer.parseInt(m.group(1));
                assertTrue(index >= 16 && index < 32, name + " is not rank 1's");
                experts++;
            }
        }
        assertEquals(LAYERS * 16 * 3, experts);
    }

    @Test
    void anExpertsRuleOnANameWithoutAnExpertNumberIsAOneLineError(@TempDir Path scratch) throws IOException {
        Path rules = Files.writeString(scratch.resolve("ep.json"), "{\"rules\": [{\"pattern\": \"*.mlp.*\", \"experts\": true}]}");
        assertEquals(3, run("plan", checkpoint.path().toString(), "--world-size", "2", "--partition", rules.toString()));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("error: Unsupported: ") && err.toString().contains("model.layers.0.mlp.gate.weight")
                && err.toString().contains("`experts.<N>.`"), err.toString());

        err.getBuffer().setLength(0);
        Path bad = Files.writeString(scratch.resolve("bad.json"),
                "{\"rules\": [{\"pattern\": \"*.experts.*\", \"experts\": true, \"replicate\": true}]}");
        assertEquals(2, run("load", checkpoint.path().toString(), "--world-size", "2", "--partition", bad.toString()));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("error: Usage: ") && err.toString().contains("exactly one of"), err.toString());
    }
}
