package io.stload.benchdata;

import io.stload.benchdata.CheckpointLayout.Shard;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Writes a {@link HubModel} as the hub holds it: {@code config.json}, and the tensors in {@code model.safetensors} or
 * in shards {@code model-00001-of-0000N.safetensors} filled greedily in tensor order (as {@code save_pretrained}
 * does) with {@code model.safetensors.index.json}. Tensor bytes are random, from the model's seed and each tensor's
 * name, so the same model always yields the same files. No network. The directory is treated as
 * {@link CheckpointGenerator} treats it: new, empty or holding only an earlier run's files (another checkpoint is
 * refused), every file staged and renamed into place, and a failed run's files removed.
 */
public final class HubCheckpointGenerator {
    /** What {@code save_pretrained} puts in every file's {@code __metadata__}. */
    private static final Map<String, String> METADATA = Map.of("format", "pt");

    private HubCheckpointGenerator() {
    }

    /**
     * Writes the model into {@code dir}, created if missing.
     *
     * @param model the model
     * @param dir   the checkpoint directory
     * @return the safetensors files written, in order
     * @throws java.nio.file.FileAlreadyExistsException if {@code dir} is a file or holds files this generator did not
     *         write
     * @throws IOException if a file cannot be written (what the run wrote is removed)
     */
    public static List<Path> generate(HubModel model, Path dir) throws IOException {
        List<Shard> shards = CheckpointLayout.shards(model.tensors(), model.shardBytes());
        CheckpointGenerator.write(dir, shards, model.shardBytes() != 0, METADATA, model.seed(),
                Map.of("config.json", model.configJson()));
        return shards.stream().map(s -> dir.resolve(s.fileName())).toList();
    }
}
