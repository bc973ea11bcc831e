package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the reference library in a child python3: every tensor of a checkpoint directory, as hex of its bytes. */
public final class PythonSafetensors {
    private static final String SCRIPT = """
            import json, os, sys
            from safetensors import safe_open
            d = sys.argv[1]
            idx = os.path.join(d, "model.safetensors.index.json")
            files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
            for f in files:
                with safe_open(os.path.join(d, f), framework="numpy") as st:
                    for name in st.keys():
                        print(name, st.get_tensor(name).tobytes().hex())
            """;

    private PythonSafetensors() {
    }

    public static boolean available() {
        try {
            Process p = new ProcessBuilder("python3", "-c", "import safetensors, numpy")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    public static Map<String, String> readHex(Path checkpointDir) throws IOException, InterruptedException {
        File out = File.createTempFile("safetensors-ref", ".txt");
        try {
            Process p = new ProcessBuilder("python3", "-c", SCRIPT, checkpointDir.toString())
                    .redirectErrorStream(true).redirectOutput(out).start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "python3 did not exit");
            List<String> lines = Files.readAllLines(out.toPath());
            assertEquals(0, p.exitValue(), String.join("\n", lines));
            Map<String, String> read = new LinkedHashMap<>();
            for (String line : lines) {
                String[] parts = line.split(" ", 2);
                read.put(parts[0], parts.length > 1 ? parts[1] : "");
            }
            return read;
        } finally {
            Files.deleteIfExists(out.toPath());
        }
    }
}
