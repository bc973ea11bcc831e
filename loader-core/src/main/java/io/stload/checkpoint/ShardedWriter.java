package io.stload.checkpoint;

import io.stload.StloadException;
import io.stload.format.SafetensorsWriter.DataSource;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.SafetensorsWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.json.JsonFactory;

/**
 * Writes a checkpoint directory in the hub's layout: tensors in order, cut into shards of at most
 * {@code maxShardBytes} of tensor data ({@code model-00001-of-00003.safetensors}, ...) with a
 * {@code model.safetensors.index.json} whose {@code metadata} holds {@code total_size} and the user's
 * metadata and whose {@code weight_map} names each tensor's shard; a checkpoint that fits one shard is a
 * single {@code model.safetensors}. A tensor larger than the limit gets a shard of its own. The user's
 * metadata is also each shard's {@code __metadata__}, with each tensor's SHA-256 when asked.
 *
 * <p>The directory appears complete or not at all: everything is written into a temporary sibling, which is
 * then renamed to the target. The target must not exist, or be an empty directory.
 */
public final class ShardedWriter {
    /** The index file's name in the hub's layout. */
    public static final String INDEX = "model.safetensors.index.json";
    /** The one file of a checkpoint that fits a single shard. */
    public static final String SINGLE = "model.safetensors";

    private static final JsonFactory JSON = JsonFactory.builder().build();

    private ShardedWriter() {
    }

    /**
     * Writes the checkpoint into {@code dir} (see the class comment).
     *
     * @param dir           the directory to create; absent or empty
     * @param metadata      the user's metadata, or null for none
     * @param entries       the tensors, in the order they are written
     * @param source        writes each tensor's bytes, once, in order
     * @param maxShardBytes the most tensor data per shard
     * @return the files written, the index last
     * @throws IOException if {@code dir} exists and is not an empty directory, or a file cannot be written; nothing is
     *         left behind
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code maxShardBytes} is not positive, or a name repeats or a shape is
     *         invalid
     */
    public static List<Path> write(Path dir, Map<String, String> metadata, List<Entry> entries, DataSource source,
                                   long maxShardBytes) throws IOException {
        return write(dir, metadata, entries, source, maxShardBytes, false);
    }

    /**
     * Writes the checkpoint into {@code dir} (see the class comment), optionally recording each tensor's SHA-256 in
     * the {@code __metadata__} of the shard that holds it ({@link io.stload.format.TensorDigest}), so that a reload
     * of a later checkpoint reads only the tensors whose bytes changed.
     *
     * @param dir           the directory to create; absent or empty
     * @param metadata      the user's metadata, or null for none
     * @param entries       the tensors, in the order they are written
     * @param source        writes each tensor's bytes, once, in order
     * @param maxShardBytes the most tensor data per shard
     * @param digests       whether each shard records its tensors' digests
     * @return the files written, the index last
     * @throws IOException if {@code dir} exists and is not an empty directory, or a file cannot be written; nothing is
     *         left behind
     * @throws IllegalArgumentException if {@code maxShardBytes} is not positive, or a name repeats or a shape is
     *         invalid
     */
    public static List<Path> write(Path dir, Map<String, String> metadata, List<Entry> entries, DataSource source,
                                   long maxShardBytes, boolean digests) throws IOException {
        if (maxShardBytes <= 0) {
            throw StloadException.usage("shard size must be positive: " + maxShardBytes);
        }
        List<List<Entry>> shards = cut(entries, maxShardBytes);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < shards.size(); i++) {
            names.add(shards.size() == 1 ? SINGLE : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size()));
        }
        writeAtomically(dir, tmp -> {
            for (int i = 0; i < shards.size(); i++) {
                SafetensorsWriter.write(tmp.resolve(names.get(i)), metadata, shards.get(i), source, digests);
            }
            if (shards.size() > 1) {
                Files.write(tmp.resolve(INDEX), index(metadata, shards, names));
            }
        });
        List<Path> files = new ArrayList<>(names.stream().map(dir::resolve).toList());
        if (shards.size() > 1) {
            files.add(dir.resolve(INDEX));
        }
        return files;
    }

    /** Consecutive runs of entries, each at most {@code max} bytes unless one entry alone is larger. */
    static List<List<Entry>> cut(List<Entry> entries, long max) {
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry e : entries) {
            if (!current.isEmpty() && bytes + e.byteSize() > max) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(e);
            bytes += e.byteSize();
        }
        shards.add(current);
        return shards;
    }

    private static byte[] index(Map<String, String> metadata, List<List<Entry>> shards, List<String> names) {
        long total = shards.stream().flatMap(List::stream).mapToLong(Entry::byteSize).sum();
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(ObjectWriteContext.empty(), json)) {
            g.writeStartObject();
            g.writeName("metadata");
            g.writeStartObject();
            g.writeNumberProperty("total_size", total);
            if (metadata != null) {
                for (Map.Entry<String, String> m : new LinkedHashMap<>(metadata).entrySet()) {
                    if (!m.getKey().equals("total_size")) {
                        g.writeStringProperty(m.getKey(), m.getValue());
                    }
                }
            }
            g.writeEndObject();
            g.writeName("weight_map");
            g.writeStartObject();
            for (int i = 0; i < shards.size(); i++) {
                for (Entry e : shards.get(i)) {
                    g.writeStringProperty(e.name(), names.get(i));
                }
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        json.write('\n');
        return json.toByteArray();
    }

    /**
     * Fills a directory beside {@code dir}, then renames it to {@code dir}, or deletes it on any failure.
     *
     * @param dir    the directory to create; absent or empty
     * @param filler writes the files into the temporary directory it is given
     * @throws IOException if {@code dir} exists and is not an empty directory, or the filler or the rename fails
     */
    public static void writeAtomically(Path dir, Filler filler) throws IOException {
        Path target = dir.toAbsolutePath();
        if (Files.isDirectory(target)) {
            try (Stream<Path> children = Files.list(target)) {
                if (children.findAny().isPresent()) {
                    throw new FileAlreadyExistsException(target.toString(), null, "exists and is not empty");
                }
            }
        } else if (Files.exists(target)) {
            throw new FileAlreadyExistsException(target.toString(), null, "exists and is not a directory");
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        // Not createTempDirectory: its owner-only permissions would become the checkpoint's.
        Path tmp = Files.createDirectory(parent.resolve("." + target.getFileName() + ".tmp-"
                + ProcessHandle.current().pid() + "-" + System.nanoTime()));
        try {
            filler.fill(tmp);
            Files.deleteIfExists(target); // an empty directory, checked above
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(tmp);
            throw e;
        }
    }

    /** Writes the files of a directory into the folder it is given. */
    @FunctionalInterface
    public interface Filler {
        /**
         * Writes the files.
         *
         * @param dir the temporary directory to write into
         * @throws IOException if a file cannot be written
         */
        void fill(Path dir) throws IOException;
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // Best effort: the failure that brought us here is the one to report.
        }
    }
}
