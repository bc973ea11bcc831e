package io.stload.benchdata;

import io.stload.StloadException;
import io.stload.checkpoint.ShardedWriter;
import io.stload.format.SafetensorsWriter.Entry;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.LongStream;

/**
 * Which tensors go into which file, decided before anything is written; shards are cut as Hugging Face's
 * {@code save_pretrained} cuts them ({@link ShardedWriter#shards}).
 */
record CheckpointLayout(ModelDimensions dimensions, List<Shard> shards) {
    static final String SINGLE_FILE_NAME = ShardedWriter.SINGLE;
    static final String INDEX_FILE_NAME = ShardedWriter.INDEX;

    record Shard(String fileName, List<Entry> entries) {
        long tensorBytes() {
            return total(entries.stream().mapToLong(Entry::byteSize));
        }
    }

    static CheckpointLayout of(CheckpointSpec spec) {
        ModelDimensions dims = ModelDimensions.of(spec);
        return new CheckpointLayout(dims, shards(dims.tensors(spec.dtype()), spec.shardBytes()));
    }

    /** The shards of {@code tensors}, as the loader's writer cuts them; one file when {@code shardBytes} is 0. */
    static List<Shard> shards(List<Entry> tensors, long shardBytes) {
        List<List<Entry>> groups = shardBytes > 0 ? ShardedWriter.shards(tensors, shardBytes) : List.of(tensors);
        List<Shard> out = new ArrayList<>();
        for (int i = 0; i < groups.size(); i++) {
            String name = shardBytes == 0 ? SINGLE_FILE_NAME
                    : String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, groups.size());
            out.add(new Shard(name, List.copyOf(groups.get(i))));
        }
        return List.copyOf(out);
    }

    int tensorCount() {
        return shards.stream().mapToInt(s -> s.entries().size()).sum();
    }

    long tensorBytes() {
        return total(shards.stream().mapToLong(Shard::tensorBytes));
    }

    /**
     * Sizes added up exactly: a model's dimensions are the user's, and a sum that wrapped passed the free-space check
     * and filled the disk.
     */
    static long total(LongStream sizes) {
        return sizes.reduce(0, (sum, size) -> {
            if (size < 0 || size > Long.MAX_VALUE - sum) { // an unsigned 2^63 or more, or a sum past 2^63 - 1
                throw StloadException.usage("the tensors add up past 2^63 - 1 bytes, more than a file system holds");
            }
            return sum + size;
        });
    }
}
