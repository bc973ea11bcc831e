package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A file truncated under a mapping, then touched: the Io kind naming the file, and the JVM lives on. */
class TruncateWhileMappedTest {
    @TempDir
    Path dir;

    @Test
    void truncationSurfacesAsIoForThatFileAndTheJvmSurvives() throws IOException, InterruptedException {
        Path file = dir.resolve("model.safetensors");
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                TruncateWhileMapped.class.getName(), file.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
        List<String> out = Files.readAllLines(dir.resolve("out"));
        assertEquals(0, p.exitValue(), String.join("\n", out));
        assertEquals(List.of("mapped", "kind=Io file=" + file.toRealPath(), "alive"), out);
    }
}
