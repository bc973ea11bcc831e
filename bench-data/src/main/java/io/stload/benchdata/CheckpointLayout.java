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
        List<Entry> tensors = dims.tensors(spec.dtype());
        if (!spec.sharded()) {
            return new CheckpointLayout(dims, List.of(new Shard(SINGLE_FILE_NAME, tensors)));
        }
        List<List<Entry>> groups = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long currentBytes = 0;
        for (Entry e : tensors) {
            if (!current.isEmpty() && currentBytes + e.byteSize() > spec.shardBytes()) {
                groups.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(e);
            currentBytes += e.byteSize();
        }
        groups.add(current);
        List<Shard> shards = new ArrayList<>();
        for (int i = 0; i < groups.size(); i++) {
            String name = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, groups.size());
            shards.add(new Shard(name, List.copyOf(groups.get(i))));
        }
        return new CheckpointLayout(dims, List.copyOf(shards));
    }

    int tensorCount() {
        return shards.stream().mapToInt(s -> s.entries().size()).sum();
    }

    long tensorBytes() {
        return shards.stream().mapToLong(Shard::tensorBytes).sum();
    }
}
