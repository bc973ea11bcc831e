package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.format.ConformanceCorpus;
import io.stload.format.Header;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The corpus's three-shard checkpoint, laid out as the hub lays out large models, opens through its index. */
class ConformanceShardedCheckpointTest {
    @Test
    void shardedCheckpointOpensThroughItsIndex() {
        Path dir = ConformanceCorpus.dir().resolve("valid/sharded");
        Checkpoint c = Checkpoint.open(dir);
        assertEquals(dir.resolve("model.safetensors.index.json"), c.index());
        assertEquals(List.of("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors"), c.files().stream().map(h -> h.file().getFileName().toString()).toList());
        assertEquals(18, c.tensors().size());
        assertEquals(73728, c.totalBytes()); // the index's metadata.total_size
        for (Header h : c.files()) {
            assertEquals(520, h.dataStart());
        }
        assertEquals("model-00002-of-00003.safetensors", c.tensor("model.layers.2.q").file().file().getFileName().toString());
    }
}
