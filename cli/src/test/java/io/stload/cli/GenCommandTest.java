package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code stload gen}: impossible sizes and taken targets are usage errors, and a stopped run leaves no temp file. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GenCommandTest {
    @TempDir
    Path dir;
    final StringWriter err = new StringWriter();

    private int run(String... args) {
        err.getBuffer().setLength(0);
        return Main.run(args, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
    }

    private void assertOneLine(int expectedCode, int code) {
        assertEquals(expectedCode, code, err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());
    }

    @Test
    void sizesTooSmallForTheShapeAndTakenTargetsAreUsageErrors() throws IOException {
        assertOneLine(2, run("gen", dir.resolve("a").toString(), "--size", "1"));
        assertOneLine(2, run("gen", dir.resolve("b").toString(), "--shape", "moe", "--size", "1KiB"));
        Path file = Files.writeString(dir.resolve("file"), "taken");
        assertOneLine(2, run("gen", file.toString(), "--size", "1MiB"));
        assertTrue(err.toString().contains("exists and is not a directory"), err.toString());
    }

    /** A checkpoint gen did not write, in the hub's own file names: gen refuses it and changes nothing. */
    @Test
    void aDirectoryHoldingACheckpointGenDidNotWriteIsRefusedAndUntouched() throws Exception {
        Path real = dir.resolve("real");
        assertEquals(0, run("gen", dir.resolve("src").toString(), "--size", "1MiB", "--shard-size", "256KiB", "--seed", "5"));
        assertEquals(0, run("reshard", dir.resolve("src").toString(), real.toString(), "--world-size", "1",
                "--shard-size", "256KiB"), err.toString());
        Path rank = real.resolve("rank-00000"); // model-0000N-of-0000M.safetensors and the index, written by reshard
        Map<String, String> before = digests(rank);
        assertTrue(before.containsKey("model.safetensors.index.json"), before.toString());
        assertOneLine(2, run("gen", rank.toString(), "--size", "1MiB", "--shard-size", "256KiB"));
        assertTrue(err.toString().contains("holds files gen did not write (model-00001-of-"), err.toString());
        assertEquals(before, digests(rank));

        // Its own output it replaces, whatever the layout.
        Path own = dir.resolve("own");
        assertEquals(0, run("gen", own.toString(), "--size", "1MiB", "--shard-size", "256KiB"), err.toString());
        assertEquals(0, run("gen", own.toString(), "--size", "1MiB"), err.toString());
        assertEquals(List.of(".stload-gen", "model.safetensors"), names(own));
    }

    /** A run killed outright (no hook runs) mid-write leaves no directory that passes for a checkpoint. */
    @Test
    @Tag("slow")
    void aKilledGenLeavesNoCheckpointAndTheNextRunCleansUp() throws Exception {
        Path target = dir.resolve("killed");
        Process p = gen(target, "--size", "16GiB", "--shard-size", "8MiB");
        try {
            // The first shard complete, the second being written.
            awaitFile(p, target, n -> n.matches("model-00002-of-\\d{5}\\.safetensors.*"));
        } finally {
            p.destroyForcibly(); // SIGKILL
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertTrue(names(target).stream().anyMatch(n -> n.startsWith("model-00001-of-")), names(target).toString());
        int code = run("inspect", target.toString());
        assertTrue(code == 3 || code == 4, "inspect of a killed run's directory: exit " + code + ", " + err);
        assertEquals(0, run("gen", target.toString(), "--size", "1MiB"), err.toString());
        assertEquals(List.of(".stload-gen", "model.safetensors"), names(target));
    }

    @Test
    void moreThanTheFreeSpaceIsRefusedBeforeWriting() throws IOException {
        Path target = dir.resolve("huge");
        assertOneLine(4, run("gen", target.toString(), "--size", "1PiB"));
        assertTrue(err.toString().contains("needs about"), err.toString());
        assertFalse(Files.exists(target));
        // A model past 2^63 bytes: its size wrapped negative, passed this check and filled the disk.
        assertOneLine(2, run("gen", target.toString(), "--model", "llama", "--hidden", "1000000000"));
        assertTrue(err.toString().contains("add up past 2^63 - 1 bytes"), err.toString());
        assertFalse(Files.exists(target));
    }

    @ParameterizedTest
    @ValueSource(strings = {"TERM", "INT"})
    @Tag("slow")
    void aStoppedGenLeavesNoTempFile(String signal) throws Exception {
        assumeFalse(signal.equals("INT") && ignoresSigint(), "SIGINT is ignored in this process, so in the child too");
        Path target = dir.resolve("stopped");
        Process p = gen(target, "--size", "16GiB", "--shard-size", "1GiB");
        try {
            awaitFile(p, target, n -> n.contains(".tmp-"));
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gen did not stop on SIG" + signal);
        } finally {
            p.destroyForcibly();
        }
        // The run created the directory: it takes it away again, half shard, marker and all.
        assertFalse(Files.exists(target), () -> "left behind: " + names(target));
    }

    private Process gen(Path target, String... flags) throws IOException {
        return ChildJvm.main(Main.class).args("gen", target.toString()).args(flags).builder()
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(dir.resolve("stderr").toFile()).start();
    }

    /** Polls until a file whose name {@code matches} is in {@code target} (a directory has no event to wait on). */
    private void awaitFile(Process p, Path target, java.util.function.Predicate<String> matches) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.isDirectory(target) || names(target).stream().noneMatch(matches)) {
            assertTrue(p.isAlive(), "gen ended early: " + Files.readString(dir.resolve("stderr")));
            assertTrue(System.nanoTime() < deadline, "the file awaited did not appear: " + names(target));
            Thread.sleep(5);
        }
    }

    private static List<String> names(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static Map<String, String> digests(Path dir) throws Exception {
        Map<String, String> all = new java.util.TreeMap<>();
        for (String name : names(dir)) {
            byte[] sha = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(dir.resolve(name)));
            all.put(name, java.util.HexFormat.of().formatHex(sha));
        }
        return all;
    }

    /** SigIgn in /proc/self/status is a mask with bit (n - 1) for signal n: SIGINT is 2. */
    static boolean ignoresSigint() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << 1)) != 0;
            }
        }
        return false;
    }
}
