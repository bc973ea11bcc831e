package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.load.Digests;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Sizes;
import io.stload.plan.Thresholds;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/** {@code stload gen}, {@code plan} and {@code load}: outputs, JSON shape, digests and usage errors. */
class LoadCommandTest {
    @TempDir
    static Path dir;
    static Map<String, String> reference;

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();

    @BeforeAll
    static void generate() {
        StringWriter sink = new StringWriter();
        int rc = Main.run(new String[] {"gen", dir.toString(), "--size", "3MiB", "--shard-size", "1MiB", "--seed", "3"},
                new PrintWriter(sink, true), new PrintWriter(sink, true));
        assertEquals(0, rc, sink.toString());
        reference = Digests.ofFiles(Checkpoint.open(dir));
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"auto", "mmap", "prefetch", "direct"})
    void loadJsonHasTheDocumentedShapeAndReferenceDigests(String strategy) {
        assertEquals(0, run("load", dir.toString(), "--load-strategy", strategy, "--order", "shuffled", "--digest", "--json"),
                err.toString());
        assertEquals("", err.toString());
        Map<String, String> digests = new HashMap<>();
        Set<String> keys = new HashSet<>();
        try (JsonParser p = JsonFactory.builder().build().createParser(ObjectReadContext.empty(), out.toString())) {
            assertEquals(JsonToken.START_OBJECT, p.nextToken());
            String key;
            while ((key = p.nextName()) != null) {
                keys.add(key);
                p.nextToken();
                if (key.equals("digests")) {
                    String name;
                    while ((name = p.nextName()) != null) {
                        digests.put(name, p.nextStringValue());
                    }
                } else if (key.equals("strategy") && !strategy.equals("auto")) {
                    String file;
                    while ((file = p.nextName()) != null) {
                        assertEquals(strategy, p.nextStringValue(), file);
                    }
                } else {
                    p.skipChildren();
                }
            }
            assertEquals(null, p.nextToken());
        }
        assertTrue(keys.containsAll(List.of("strategy", "reasons", "tensors", "bytes", "bytes_read", "kernel_bytes_read",
                "seconds", "gbps", "phases", "latency_us", "digests")), keys.toString());
        assertEquals(reference, digests);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mmap", "prefetch", "direct"})
    @SuppressWarnings("unchecked")
    void aStreamedLoadDigestsEveryTensorInTheConsumerAndSaysWhichRuleChose(String strategy) {
        assertEquals(0, run("load", dir.toString(), "--sink", "stream", "--memory-budget", "256KiB",
                "--load-strategy", strategy, "--digest", "--json"), err.toString());
        Map<String, Object> reply = JsonReplies.parse(out.toString());
        assertEquals(reference, reply.get("digests"));
        assertEquals("stream", reply.get("sink"));
        Map<String, Object> rules = (Map<String, Object>) reply.get("rule");
        assertTrue(!rules.isEmpty() && rules.values().stream().allMatch("forced"::equals), rules.toString());
    }

    @Test
    void anUnknownSinkIsAUsageError() {
        assertEquals(2, run("load", dir.toString(), "--sink", "disk"));
        assertEquals("error: Usage: Invalid value for option '--sink': expected one of [host, stream] (case-insensitive) "
                + "but was 'disk' (see --help)", err.toString().strip());
    }

    /** The flags that fall back to the library's own values name them in --help, and name them right. */
    @Test
    void helpNamesTheLibrarysDefaults() {
        CommandSpec spec = new CommandLine(new PlanCommand()).getCommandSpec();
        Thresholds d = Thresholds.DEFAULTS;
        Map<String, Function<String, Object>> parsers = Map.of(
                "--auto-cold-local", LoadStrategy::parse, "--auto-resident", Double::valueOf,
                "--auto-small", Sizes::parse, "--auto-headroom-factor", Double::valueOf,
                "--prefetch-window", Sizes::parse, "--prefetch-ahead", Sizes::parse, "--direct-block", Sizes::parse,
                "--max-gap", Sizes::parse);
        Map<String, Object> expected = Map.of("--auto-cold-local", d.coldLocal(), "--auto-resident", d.residentForMmap(),
                "--auto-small", d.smallReadBytes(), "--auto-headroom-factor", d.headroomFactor(),
                "--prefetch-window", d.prefetchWindow(), "--prefetch-ahead", d.prefetchAhead(),
                "--direct-block", d.directBlock(), "--max-gap", d.maxGapBytes());
        for (String flag : expected.keySet()) {
            String description = String.join(" ", spec.findOption(flag).description());
            Matcher m = Pattern.compile("default: ([^);]+)\\)\\.$").matcher(description);
            assertTrue(m.find(), flag + ": " + description);
            assertEquals(expected.get(flag), parsers.get(flag).apply(m.group(1)), flag + ": " + description);
        }
    }

    @Test
    void humanLoadOutputNamesStrategyReasonsPhasesAndLatency() {
        assertEquals(0, run("load", dir.toString(), "--load-strategy", "direct"));
        String text = out.toString();
        assertTrue(text.startsWith("loaded " + reference.size() + " tensors"), text);
        assertTrue(text.contains("direct (forced by the load strategy option)"), text);
        assertTrue(text.contains("phases") && text.contains("p99"), text);
    }

    @Test
    void planPrintsAStrategyAndReasonsPerFileWithoutLoading() throws Exception {
        assertEquals(0, run("plan", dir.toString(), "--json"));
        String json = out.toString();
        assertTrue(json.contains("\"strategy\":\"mmap\""), json); // a 3 MiB checkpoint is a small read
        assertTrue(json.contains("\"reasons\":[") && json.contains("for this rank"), json);
        assertTrue(json.contains("\"rule\":\"small\"") || json.contains("\"rule\":\"resident\""), json);
        out.getBuffer().setLength(0);
        assertEquals(0, run("plan", dir.toString(), "--auto-small", "0", "--auto-resident", "1.1", "--auto-cold-local", "prefetch"));
        // With the small-read and resident rules out of reach, only a RAM filesystem still maps (the default plan).
        boolean ram = NativeAccess.get().statfs(dir).isRam();
        assertTrue(out.toString().contains(ram ? "-> mmap" : "-> prefetch"), out.toString());
    }

    /** A plan for a stream counts its budget, not the rank's bytes, as load --sink stream does. */
    @Test
    void planForAStreamCountsItsBudget() {
        assertEquals(0, run("plan", dir.toString(), "--sink", "stream", "--memory-budget", "256KiB", "--json"),
                err.toString());
        String json = out.toString();
        assertTrue(json.startsWith("{\"sink\":\"stream\"") && json.contains("destination takes 256.0 KiB (stream"),
                json);
        assertTrue(json.contains("\"anonymous_room_bytes\":"), json);
        out.getBuffer().setLength(0);
        assertEquals(2, run("plan", dir.toString(), "--sink", "stream", "--memory-budget", "1KiB"));
        assertTrue(err.toString().startsWith("error: Usage: --memory-budget"), err.toString());
    }

    @Test
    void badFlagsAreOneLineUsageErrors() {
        assertEquals(2, run("load", dir.toString(), "--load-strategy", "fast"));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("error: Usage: --load-strategy: unknown strategy 'fast'; expected one of auto|mmap|"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("load", dir.toString(), "--threads", "0"));
        assertEquals(1, err.toString().lines().count(), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("load", dir.toString(), "--direct-block", "1000"));
        assertEquals(1, err.toString().lines().count(), err.toString());
    }

    @Test
    void deviceFlagsAreCheckedAsUsage() {
        assertEquals(2, run("load", dir.toString(), "--device", "tpu"));
        assertTrue(err.toString().startsWith("error: Usage: unknown --device 'tpu'"), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("load", dir.toString(), "--device", "cuda", "--ring-windows", "1"));
        assertEquals(1, err.toString().lines().count(), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("load", dir.toString(), "--device", "cuda", "--pinning", "glue"));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("error: Usage: --pinning: unknown pinning 'glue'; expected alloc|register"),
                err.toString());
    }

    @Test
    void missingCheckpointIsAnIoError() {
        assertEquals(4, run("load", dir.resolve("nope").toString()));
        assertTrue(err.toString().startsWith("error: Io: "), err.toString());
    }

    @Test
    void demoRunsTheMainJobEndToEnd() {
        assertEquals(0, run("demo", "--size", "4MiB"), err.toString());
        String text = out.toString();
        assertTrue(text.contains("1. generating") && text.contains("2. inspected") && text.contains("3. plan")
                && text.contains("4. loaded"), text);
    }

    @Test
    void verifyNotesAFileTheIndexDoesNotNameAndStaysClean(@TempDir Path scratch) throws Exception {
        Path copy = Files.createDirectory(scratch.resolve("ckpt"));
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        Files.writeString(copy.resolve("stray.safetensors"), "not a safetensors file");
        assertEquals(0, run("load", copy.toString()), err.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("verify", copy.toString()), out + err.toString());
        assertTrue(out.toString().contains("note: stray.safetensors is not named by model.safetensors.index.json"),
                out.toString());
        assertTrue(out.toString().contains("ok: no problems found"), out.toString());
    }

    /** Outside a hub cache no file is named by its sha256: --deep says it hashed nothing, not that all was hashed. */
    @Test
    void aDeepVerifyOfAPlainFolderSaysItHashedNothing() {
        assertEquals(0, run("verify", dir.toString(), "--deep"), err.toString());
        assertTrue(out.toString().contains("note: no file of this checkpoint is named by its sha256 (a hub cache's"
                + " blobs are), so the deep check hashed nothing"), out.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, run("verify", dir.toString(), "--threads", "2"));
        assertEquals("error: Usage: --threads does not apply to verify without --deep, which hashes nothing",
                err.toString().strip());
    }
}
