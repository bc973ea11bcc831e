package io.stload.benchdata;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.PrettyPrinter;
import tools.jackson.core.json.JsonFactory;
import tools.jackson.core.util.DefaultPrettyPrinter;

/**
 * Writes {@code model.safetensors.index.json} as Hugging Face does:
 * {@code {"metadata": {"total_size": N}, "weight_map": {tensor: shard file}}}, indented for people to read.
 * Like the shards, it appears under its name only once complete.
 */
final class ShardIndexWriter {
    private static final JsonFactory JSON = JsonFactory.builder().build();
    private static final ObjectWriteContext INDENTED = new ObjectWriteContext.Base() {
        @Override
        public PrettyPrinter getPrettyPrinter() {
            return new DefaultPrettyPrinter();
        }

        @Override
        public boolean hasPrettyPrinter() {
            return true;
        }
    };

    private ShardIndexWriter() {
    }

    static void write(Path file, long totalSize, Map<String, String> weightMap) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try (OutputStream out = Files.newOutputStream(tmp);
             JsonGenerator g = JSON.createGenerator(INDENTED, out)) {
            g.writeStartObject();
            g.writeName("metadata");
            g.writeStartObject();
            g.writeNumberProperty("total_size", totalSize);
            g.writeEndObject();
            g.writeName("weight_map");
            g.writeStartObject();
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                g.writeStringProperty(e.getKey(), e.getValue());
            }
            g.writeEndObject();
            g.writeEndObject();
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
