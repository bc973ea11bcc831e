package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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
        Path other = dir.resolve("other");
        assertEquals(0, run("gen", other.toString(), "--size", "1MiB", "--shard-size", "256KiB"), err.toString());
        assertOneLine(2, run("gen", other.toString(), "--size", "1MiB"));
        assertTrue(err.toString().contains("already holds another checkpoint"), err.toString());
    }

    @Test
    void moreThanTheFreeSpaceIsRefusedBeforeWriting() throws IOException {
        Path target = dir.resolve("huge");
        assertOneLine(4, run("gen", target.toString(), "--size", "1PiB"));
        assertTrue(err.toString().contains("needs about"), err.toString());
        try (Stream<Path> files = Files.list(target)) {
            assertEquals(List.of(), files.toList());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"TERM", "INT"})
    void aStoppedGenLeavesNoTempFile(String signal) throws Exception {
        assumeFalse(signal.equals("INT") && ignoresSigint(), "SIGINT is ignored in this process, so in the child too");
        Path target = dir.resolve("stopped");
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), "io.stload.cli.Main", "gen", target.toString(), "--size", "16GiB")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(dir.resolve("stderr").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (temporaryFiles(target).isEmpty()) {
                assertTrue(p.isAlive(), "gen ended before writing: " + Files.readString(dir.resolve("stderr")));
                assertTrue(System.nanoTime() < deadline, "no temp file appeared");
                Thread.sleep(5); // polling a directory: there is no event to wait on
            }
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gen did not stop on SIG" + signal);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(List.of(), temporaryFiles(target));
    }

    private static List<Path> temporaryFiles(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().contains(".tmp-")).toList();
        }
    }

    /** SigIgn in /proc/self/status is a mask with bit (n - 1) for signal n: SIGINT is 2. */
    private static boolean ignoresSigint() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).strip(), 16) & (1L << 1)) != 0;
            }
        }
        return false;
    }
}
