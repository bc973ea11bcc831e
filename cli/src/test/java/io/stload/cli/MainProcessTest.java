package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real entry point in its own JVM: {@code System.exit} carries the code and stderr holds exactly one
 * line, with no stack trace or JVM warning around it. Runs on this test's own java and class path, since
 * the shaded jar is only built after the tests.
 */
class MainProcessTest {
    @TempDir
    Path dir;

    @Test
    void invalidFileExitsWithThreeAndOneLineOnStderr() throws IOException, InterruptedException {
        Path bad = Files.write(dir.resolve("bad.safetensors"), new byte[] {1, 2, 3});
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "io.stload.cli.Main", "inspect", bad.toString())
                .redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile())
                .start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(3, p.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: HeaderTooSmall: " + bad + ": "), stderr.get(0));
        assertEquals(0, Files.size(dir.resolve("stdout")));
    }
}
