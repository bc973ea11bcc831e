package io.stload.benchdata;

import io.stload.StloadException;
import io.stload.benchdata.CheckpointLayout.Shard;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Writes the checkpoint a {@link CheckpointSpec} describes into a directory: the shards (or one
 * {@code model.safetensors}) through {@link SafetensorsWriter}, then the index, last, so a directory with an
 * index always holds the complete checkpoint it names.
 */
public final class CheckpointGenerator {
    /** Room for a shard's header (names, shapes, offsets) or the index, well above any this generator writes. */
    private static final long HEADER_ALLOWANCE = 1 << 20;

    private CheckpointGenerator() {
    }

    /**
     * Writes the checkpoint, replacing files of the same names. A directory holding another checkpoint, or a
     * path that is a file, is a {@link FileAlreadyExistsException}; too little free space an {@link IOException}
     * before anything is written.
     */
    public static CheckpointSummary generate(CheckpointSpec spec, Path dir) throws IOException {
        CheckpointLayout layout = CheckpointLayout.of(spec);
        Files.createDirectories(dir);
        refuseOtherCheckpoints(dir, layout);
        requireFreeSpace(dir, layout);
        // An index left by an earlier run must not describe shards while they are being rewritten.
        Path index = dir.resolve(CheckpointLayout.INDEX_FILE_NAME);
        Files.deleteIfExists(index);

        long start = System.nanoTime();
        RandomTensorData data = new RandomTensorData(spec.seed());
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (Shard shard : layout.shards()) {
            SafetensorsWriter.write(dir.resolve(shard.fileName()), spec.fileMetadata(), shard.entries(), data);
            for (Entry e : shard.entries()) {
                weightMap.put(e.name(), shard.fileName());
            }
        }
        if (spec.sharded()) {
            ShardIndexWriter.write(index, layout.tensorBytes(), weightMap);
        }
        return summary(spec, dir, layout, true, System.nanoTime() - start);
    }

    /**
     * Reuses the checkpoint already in {@code dir} when it is this spec's (every file present, valid and
     * stamped with the same spec), and generates it otherwise. Benchmarks call this so that several gigabytes
     * are written once, not on every run.
     */
    public static CheckpointSummary reuseOrGenerate(CheckpointSpec spec, Path dir) throws IOException {
        long start = System.nanoTime();
        CheckpointLayout layout = CheckpointLayout.of(spec);
        if (isPresent(spec, dir, layout)) {
            return summary(spec, dir, layout, false, System.nanoTime() - start);
        }
        return generate(spec, dir);
    }

    private static boolean isPresent(CheckpointSpec spec, Path dir, CheckpointLayout layout) {
        if (spec.sharded() && !Files.isRegularFile(dir.resolve(CheckpointLayout.INDEX_FILE_NAME))) {
            return false;
        }
        for (Shard shard : layout.shards()) {
            Path file = dir.resolve(shard.fileName());
            if (!Files.isRegularFile(file)) {
                return false;
            }
            try {
                Header header = HeaderParser.read(file);
                if (!spec.fileMetadata().equals(header.metadata())
                        || header.tensors().size() != shard.entries().size()) {
                    return false;
                }
            } catch (StloadException e) {
                return false;
            }
        }
        return true;
    }

    /** Mixing two checkpoints in one directory would leave readers guessing which files belong together. */
    private static void refuseOtherCheckpoints(Path dir, CheckpointLayout layout) throws IOException {
        Set<String> ours = new HashSet<>();
        layout.shards().forEach(s -> ours.add(s.fileName()));
        ours.add(CheckpointLayout.INDEX_FILE_NAME);
        try (Stream<Path> files = Files.list(dir)) {
            List<String> others = files.map(f -> f.getFileName().toString())
                    .filter(n -> n.endsWith(".safetensors") || n.endsWith(".safetensors.index.json"))
                    .filter(n -> !ours.contains(n))
                    .sorted()
                    .toList();
            if (!others.isEmpty()) {
                throw new FileAlreadyExistsException(dir.toString(), null, "already holds another checkpoint ("
                        + others + "); generate into an empty directory");
            }
        }
    }

    /** The tensors plus a generous allowance for headers and the index, less what the files replaced free. */
    private static void requireFreeSpace(Path dir, CheckpointLayout layout) throws IOException {
        long needed = layout.tensorBytes() + HEADER_ALLOWANCE * (layout.shards().size() + 1);
        long available = Files.getFileStore(dir).getUsableSpace();
        for (Shard shard : layout.shards()) {
            Path existing = dir.resolve(shard.fileName());
            available += Files.isRegularFile(existing) ? Files.size(existing) : 0;
        }
        if (needed > available) {
            throw new IOException("needs about " + needed + " bytes, but the filesystem holding " + dir + " has "
                    + available + " free for it");
        }
    }

    /** Checks that {@code spec} describes a checkpoint that can be laid out (a size too small for the shape is not). */
    public static void requireFeasible(CheckpointSpec spec) {
        CheckpointLayout.of(spec);
    }

    /**
     * Deletes the temporary files this process is writing in {@code dir} ({@code NAME.tmp-PID}, renamed into
     * place when complete): for an interrupted run, so it leaves no gigabytes of half a shard behind.
     */
    public static void deletePartialFiles(Path dir) {
        String suffix = ".tmp-" + ProcessHandle.current().pid();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.getFileName().toString().endsWith(suffix)).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            // Best effort on the way out: the directory may be gone or unreadable.
        }
    }

    private static CheckpointSummary summary(CheckpointSpec spec, Path dir, CheckpointLayout layout,
                                             boolean generated, long nanos) throws IOException {
        List<Path> files = new ArrayList<>();
        long fileBytes = 0;
        for (Shard shard : layout.shards()) {
            Path file = dir.resolve(shard.fileName());
            files.add(file);
            fileBytes += Files.size(file);
        }
        Path index = spec.sharded() ? dir.resolve(CheckpointLayout.INDEX_FILE_NAME) : null;
        return new CheckpointSummary(dir, files, index, layout.dimensions(), layout.tensorCount(),
                layout.tensorBytes(), fileBytes, generated, Duration.ofNanos(nanos));
    }
}
