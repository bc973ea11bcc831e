package io.stload.benchdata;

import java.io.IOException;
import java.io.ByteArrayOutputStream;
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
    /** Writes JSON indented for people to read, as Hugging Face's tools do. */
    static final ObjectWriteContext INDENTED = new ObjectWriteContext.Base() {
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

    /**
     * Writes the index to {@code file}, through a temporary sibling renamed into place. The JSON is built in memory
     * (an index names tensors, not data) and then written as bytes, so a failing disk (full, or an I/O error) is an
     * {@link IOException} like any other write's, never the JSON writer's unchecked wrapper of it.
     */
    static void write(Path file, long totalSize, Map<String, String> weightMap) throws IOException {
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(INDENTED, json)) {
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
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            Files.write(tmp, json.toByteArray());
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
