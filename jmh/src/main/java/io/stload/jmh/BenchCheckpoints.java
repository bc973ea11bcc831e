package io.stload.jmh;

import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.CheckpointSummary;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Where benchmark checkpoints live: one directory per spec under {@code -Dstload.bench.dir} (default
 * {@code java.io.tmpdir/stload-bench}; pass it to the forked JVMs with {@code -jvmArgsAppend}), generated on
 * first use and reused by every later run, so gigabytes are written once rather than per fork.
 */
final class BenchCheckpoints {
    private BenchCheckpoints() {
    }

    static CheckpointSummary prepare(CheckpointSpec spec) throws IOException {
        Path root = Path.of(System.getProperty("stload.bench.dir",
                Path.of(System.getProperty("java.io.tmpdir"), "stload-bench").toString()));
        String name = spec.shape().label() + "-" + spec.totalBytes() + "B-shards" + spec.shardBytes()
                + "B-seed" + spec.seed() + "-" + spec.dtype();
        CheckpointSummary summary = CheckpointGenerator.reuseOrGenerate(spec, root.resolve(name));
        if (summary.generated()) {
            System.out.printf("generated %s: %d files, %d tensors, %d bytes at %.0f MB/s%n", summary.dir(),
                    summary.files().size(), summary.tensors(), summary.fileBytes(), summary.megabytesPerSecond());
        }
        return summary;
    }
}
