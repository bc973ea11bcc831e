package io.stload.benchdata;

import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a {@link HubModel} as the hub holds it: {@code config.json}, and the tensors in {@code model.safetensors} or
 * in shards {@code model-00001-of-0000N.safetensors} filled greedily in tensor order (as {@code save_pretrained}
 * does) with {@code model.safetensors.index.json}, written last. Tensor bytes are random, from the model's seed and
 * each tensor's name, so the same model always yields the same files. No network.
 */
public final class HubCheckpointGenerator {
    /** What {@code save_pretrained} puts in every file's {@code __metadata__}. */
    private static final Map<String, String> METADATA = Map.of("format", "pt");

    private HubCheckpointGenerator() {
    }

    /**
     * Writes the model into {@code dir}, created if missing; files of the same names are replaced.
     *
     * @param model the model
     * @param dir   the checkpoint directory
     * @return the safetensors files written, in order
     * @throws IOException if a file cannot be written
     */
    public static List<Path> generate(HubModel model, Path dir) throws IOException {
        Files.createDirectories(dir);
        Path index = dir.resolve(CheckpointLayout.INDEX_FILE_NAME);
        Files.deleteIfExists(index);
        Path config = dir.resolve("config.json");
        Path tmp = dir.resolve("config.json.tmp-" + ProcessHandle.current().pid());
        Files.writeString(tmp, model.configJson());
        Files.move(tmp, config, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

        List<List<Entry>> shards = shards(model.tensors(), model.shardBytes());
        RandomTensorData data = new RandomTensorData(model.seed());
        Map<String, String> weightMap = new LinkedHashMap<>();
        List<Path> files = new ArrayList<>();
        long total = 0;
        for (int i = 0; i < shards.size(); i++) {
            String name = model.shardBytes() == 0 ? CheckpointLayout.SINGLE_FILE_NAME
                    : String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
            Path file = dir.resolve(name);
            SafetensorsWriter.write(file, METADATA, shards.get(i), data);
            files.add(file);
            for (Entry e : shards.get(i)) {
                weightMap.put(e.name(), name);
                total += e.byteSize();
            }
        }
        if (model.shardBytes() != 0) {
            ShardIndexWriter.write(index, total, weightMap);
        }
        return files;
    }

    /** Greedy, in order: a tensor that would take a shard past the limit starts the next one. */
    private static List<List<Entry>> shards(List<Entry> tensors, long shardBytes) {
        List<List<Entry>> out = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry e : tensors) {
            if (shardBytes > 0 && !current.isEmpty() && bytes + e.byteSize() > shardBytes) {
                out.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(e);
            bytes += e.byteSize();
        }
        out.add(current);
        return out;
    }
}
