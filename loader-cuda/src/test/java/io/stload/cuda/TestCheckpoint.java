package io.stload.cuda;

import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.load.Digests;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** A small generated sharded checkpoint and the CRC-32 of every tensor, read straight from its files. */
final class TestCheckpoint {
    private TestCheckpoint() {
    }

    static Checkpoint generate(Path dir, long bytes) throws IOException {
        CheckpointGenerator.generate(new CheckpointSpec(ShapeKind.LLAMA, bytes, bytes / 3, 7, DType.BF16), dir);
        return Checkpoint.open(dir);
    }

    /** CRC-32 of every tensor as copied back from the device. */
    static Map<String, String> deviceDigests(DeviceWeights weights) throws IOException {
        Map<String, String> digests = new HashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            for (DeviceTensor t : weights.tensors().values()) {
                var host = arena.allocate(Math.max(1, t.byteSize()));
                weights.copyToHost(t, host);
                digests.put(t.name(), Digests.crc32(host.asSlice(0, t.byteSize())));
            }
        }
        return digests;
    }
}
