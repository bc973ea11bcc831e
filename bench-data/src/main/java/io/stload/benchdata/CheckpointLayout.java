package io.stload.benchdata;

import io.stload.format.SafetensorsWriter.Entry;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Which tensors go into which file, decided before anything is written. Shards are filled greedily in
 * tensor order, as Hugging Face's {@code save_pretrained} does: a tensor that would take a shard past the
 * limit starts the next one, and a tensor larger than the limit gets a shard of its own.
 */
record CheckpointLayout(ModelDimensions dimensions, List<Shard> shards) {
    static final String SINGLE_FILE_NAME = "model.safetensors";
    static final String INDEX_FILE_NAME = "model.safetensors.index.json";

    record Shard(String fileName, List<Entry> entries) {
        long tensorBytes() {
            return entries.stream().mapToLong(Entry::byteSize).sum();
        }
    }

    static CheckpointLayout of(CheckpointSpec spec) {
        ModelDimensions dims = ModelDimensions.of(spec);
        return new CheckpointLayout(dims, shards(dims.tensors(spec.dtype()), spec.shardBytes()));
    }

    /** The shards of {@code tensors}, greedily in order; one file when {@code shardBytes} is 0. */
    static List<Shard> shards(List<Entry> tensors, long shardBytes) {
        List<List<Entry>> groups = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry e : tensors) {
            if (shardBytes > 0 && !current.isEmpty() && bytes + e.byteSize() > shardBytes) {
                groups.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(e);
            bytes += e.byteSize();
        }
        groups.add(current);
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
        return shards.stream().mapToLong(Shard::tensorBytes).sum();
    }
}
