package io.stload.benchdata;

import io.stload.format.DType;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What to generate: a {@link ShapeKind} scaled to {@code totalBytes} of tensor data, split into shards of at
 * most {@code shardBytes} of tensor data each ({@link #SINGLE_FILE} for one {@code model.safetensors}), filled
 * from {@code seed}. The same spec always yields byte-identical files.
 */
public record CheckpointSpec(ShapeKind shape, long totalBytes, long shardBytes, long seed, DType dtype) {
    /** {@code shardBytes} value for an unsharded checkpoint: one file, no index. */
    public static final long SINGLE_FILE = 0;
    public static final long DEFAULT_SEED = 42;

    /** Larger budgets would overflow bit counts; no benchmark needs a petabyte. */
    private static final long MAX_TOTAL_BYTES = 1L << 50;

    /**
     * Bump whenever the tensor layout or the data stream changes, so checkpoints a previous version wrote are
     * not mistaken for this spec's.
     */
    static final String GENERATOR_VERSION = "1";

    public CheckpointSpec {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(dtype, "dtype");
        if (totalBytes <= 0 || totalBytes > MAX_TOTAL_BYTES) {
            throw new IllegalArgumentException("total size must be between 1 byte and 1 PiB, not " + totalBytes);
        }
        if (shardBytes < 0) {
            throw new IllegalArgumentException("shard size must not be negative: " + shardBytes);
        }
    }

    /** A single-file BF16 checkpoint with the default seed. */
    public static CheckpointSpec of(ShapeKind shape, long totalBytes) {
        return new CheckpointSpec(shape, totalBytes, SINGLE_FILE, DEFAULT_SEED, DType.BF16);
    }

    public CheckpointSpec withShardBytes(long shardBytes) {
        return new CheckpointSpec(shape, totalBytes, shardBytes, seed, dtype);
    }

    public CheckpointSpec withSeed(long seed) {
        return new CheckpointSpec(shape, totalBytes, shardBytes, seed, dtype);
    }

    public CheckpointSpec withDtype(DType dtype) {
        return new CheckpointSpec(shape, totalBytes, shardBytes, seed, dtype);
    }

    public boolean sharded() {
        return shardBytes != SINGLE_FILE;
    }

    /**
     * The {@code __metadata__} every generated file carries: the format tag Hugging Face exports write, and
     * the spec itself, which is how a directory's existing checkpoint is recognised as this spec's.
     */
    public Map<String, String> fileMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "pt");
        m.put("stload.benchdata.version", GENERATOR_VERSION);
        m.put("stload.benchdata.shape", shape.label());
        m.put("stload.benchdata.total_bytes", Long.toString(totalBytes));
        m.put("stload.benchdata.shard_bytes", Long.toString(shardBytes));
        m.put("stload.benchdata.seed", Long.toString(seed));
        m.put("stload.benchdata.dtype", dtype.name());
        return m;
    }
}
