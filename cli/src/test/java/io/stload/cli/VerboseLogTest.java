package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/** {@code --verbose}: the library's log records on stderr; without it stderr and stdout are as they were. */
@Isolated("--verbose changes where every io.stload log record goes")
class VerboseLogTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void verboseLogsThePlansDecisionPerFileAndQuietPutsLoggingBack() {
        assertEquals(0, run("gen", dir.toString(), "--size", "2MiB", "--shard-size", "1MiB", "--seed", "5").exit);

        Run verbose = run("load", dir.toString(), "--load-strategy", "mmap", "--verbose");
        assertEquals(0, verbose.exit, verbose.err);
        List<String> lines = verbose.err.lines().toList();
        assertEquals(2, lines.stream().filter(l -> l.startsWith("stload: [plan] ")
                && l.contains(".safetensors: MMAP because forced by the load strategy option")).count(), verbose.err);

        Run quiet = run("load", dir.toString(), "--load-strategy", "mmap");
        assertEquals(0, quiet.exit, quiet.err);
        assertEquals("", quiet.err);
        assertTrue(quiet.out.contains("mmap"), quiet.out);
    }
}
