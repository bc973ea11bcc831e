package io.stload.benchdata;

import io.stload.format.DType;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What to generate: a {@link ShapeKind} scaled to {@code totalBytes} of tensor data, split into shards of at
 * most {@code shardBytes} of tensor data each ({@link #SINGLE_FILE} for one {@code model.safetensors}), filled
 * from {@code seed}. {@code rowBytes} is the row size of {@link ShapeKind#MATRIX}, and 0 for every other
 * shape. The same spec always yields byte-identical files.
 */
public record CheckpointSpec(ShapeKind shape, long totalBytes, long shardBytes, long seed, DType dtype, long rowBytes) {
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
        if (shape == ShapeKind.MATRIX ? rowBytes <= 0 : rowBytes != 0) {
            throw new IllegalArgumentException(shape == ShapeKind.MATRIX ? "the matrix shape needs a positive row size"
                    : "a row size applies to the matrix shape only");
        }
        if (rowBytes > totalBytes) {
            throw new IllegalArgumentException(totalBytes + " bytes is less than one row of " + rowBytes + " bytes");
        }
        if (rowBytes * 8 % dtype.bits() != 0) {
            throw new IllegalArgumentException("a row of " + rowBytes + " bytes is not a whole number of " + dtype + " elements");
        }
    }

    /** A spec of a shape fitted to the budget (every shape but MATRIX). */
    public CheckpointSpec(ShapeKind shape, long totalBytes, long shardBytes, long seed, DType dtype) {
        this(shape, totalBytes, shardBytes, seed, dtype, 0);
    }

    /** A single-file BF16 checkpoint with the default seed. */
    public static CheckpointSpec of(ShapeKind shape, long totalBytes) {
        return new CheckpointSpec(shape, totalBytes, SINGLE_FILE, DEFAULT_SEED, DType.BF16);
    }

    public CheckpointSpec withShardBytes(long shardBytes) {
        return new CheckpointSpec(shape, totalBytes, shardBytes, seed, dtype, rowBytes);
    }

    public CheckpointSpec withSeed(long seed) {
        return new CheckpointSpec(shape, totalBytes, shardBytes, seed, dtype, rowBytes);
    }

    public CheckpointSpec withDtype(DType dtype) {
        return new CheckpointSpec(shape, totalBytes, shardBytes, seed, dtype, rowBytes);
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
        if (rowBytes != 0) {
            // Only where it applies, so the files of the other shapes stay as earlier versions wrote them.
            m.put("stload.benchdata.row_bytes", Long.toString(rowBytes));
        }
        return m;
    }
}
