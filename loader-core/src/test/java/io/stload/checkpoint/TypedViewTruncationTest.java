package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Typed reads of a lazy view of a file truncated under its mapping (a checkpoint re-downloaded in place while an
 * engine reads it): every accessor of {@link io.stload.format.Tensor} fails with one Io error naming the file, never
 * the JVM's {@link InternalError} and never a crash. Run in a JVM of its own ({@link TruncatedViewProbe}), so that a
 * crash fails this test rather than the suite.
 */
class TypedViewTruncationTest {
    @TempDir
    Path dir;

    @Test
    void everyTypedReadOfATruncatedViewIsAnIoErrorNamingTheFile() throws Exception {
        Path file = dir.resolve("truncated.safetensors");
        // The JVM's full compiler, compiling before it runs on (-Xbatch), and the Vector API: what faults differently
        // from a mapping is code C2 made of a decoder, not the interpreter's or C1's.
        Process p = ChildJvm.main(TruncatedViewProbe.class).jit(null)
                .options("-Xbatch", "--add-modules=jdk.incubator.vector", "-XX:ErrorFile=" + dir.resolve("hs_err.log"))
                .args(file.toString()).builder()
                .redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
        List<String> out = Files.readAllLines(dir.resolve("out")).stream()
                .filter(line -> !line.equals("WARNING: Using incubator modules: jdk.incubator.vector")).toList();
        assertEquals(0, p.exitValue(), String.join("\n", out));
        List<String> expected = new ArrayList<>(List.of("mapped"));
        for (String read : List.of("getFloat", "getFloat(i, j)", "getInt", "getByte", "getInt widened", "getShort",
                "getLong", "getDouble", "getFloat(F16)", "getFloat(F8_E4M3)", "getFloat(F8_E5M2)", "BF16 toFloatArray",
                "F16 toFloatArray", "F8_E4M3 toFloatArray", "row.toFloats", "toFloatArray", "toFloats(direct LE)",
                "toFloats(big-endian)", "toFloats(heap)", "Digests.crc32(view)", "copyTo")) {
            // A digest is of a segment's bytes: no file to name.
            expected.add(read + ": kind=Io file=" + (read.startsWith("Digests") ? null : file.toRealPath()));
        }
        expected.add("alive");
        assertEquals(expected, out);
    }
}
