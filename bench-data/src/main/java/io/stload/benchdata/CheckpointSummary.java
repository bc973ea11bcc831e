package io.stload.benchdata;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What {@link CheckpointGenerator} left in a directory: the safetensors files in order, the index (null for
 * a single file), the dimensions it chose, the bytes of tensor data and of the safetensors files, and how long
 * writing took ({@code generated} is false, and the time that of the check, when an identical checkpoint
 * already there was reused).
 */
public record CheckpointSummary(Path dir, List<Path> files, Path index, ModelDimensions dimensions,
                                int tensors, long tensorBytes, long fileBytes, boolean generated,
                                Duration elapsed) {
    public CheckpointSummary {
        files = List.copyOf(files);
    }

    /** Write throughput in MB/s (10^6 bytes), of every byte written including headers. */
    public double megabytesPerSecond() {
        double seconds = elapsed.toNanos() / 1e9;
        return seconds == 0 ? 0 : fileBytes / 1e6 / seconds;
    }
}
