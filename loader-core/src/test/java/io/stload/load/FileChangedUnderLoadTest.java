package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file truncated in place or replaced by another under its name while it loads, for every strategy and
 * destination: the load fails with one Io error naming the file, never a JVM crash and never a load that quietly
 * mixes two versions; lazy copies fail on a truncated file and keep reading the version they mapped.
 */
class FileChangedUnderLoadTest {
    @TempDir
    Path dir;

    @Test
    void everyStrategyAndDestinationFailsCleanlyWhenItsFileChanges() throws IOException, InterruptedException {
        Process p = ChildJvm.main(FileChangedUnderLoad.class)
                .options("-XX:-CreateCoredumpOnCrash", "-XX:ErrorFile=" + dir.resolve("hs_err.log")).args(dir.toString())
                .builder().redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "did not exit");
        List<String> out = Files.readAllLines(dir.resolve("out"));
        String all = String.join("\n", out);
        assertEquals(0, p.exitValue(), all);
        assertEquals("alive", out.getLast(), all);
        List<String> cells = out.subList(0, out.size() - 1);
        assertEquals(20, cells.size(), all);
        for (String cell : cells) {
            if (cell.startsWith("REPLACE MMAP LAZY")) {
                assertEquals("REPLACE MMAP LAZY ok", cell, "a lazy reader keeps the version it mapped");
                continue;
            }
            assertTrue(cell.matches("\\w+ \\w+ \\w+ Io names-file .*"), cell);
            if (cell.startsWith("REPLACE")) {
                assertTrue(cell.contains("replaced by another file under its name"), cell);
            } else {
                assertTrue(cell.contains("truncated") || cell.contains("changed size")
                        || cell.contains("short read") || cell.contains("end of file"), cell);
            }
        }
    }
}
