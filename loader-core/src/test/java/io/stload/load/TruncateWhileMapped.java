package io.stload.load;

import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Run in its own JVM by {@link TruncateWhileMappedTest}: maps a file, truncates it after the first tensor
 * was copied, and prints how the load ended. A JVM killed by SIGBUS prints nothing after "mapped".
 */
public final class TruncateWhileMapped {
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        SafetensorsWriter.write(file, Map.of(), List.of(
                new TensorData("first", DType.U8, new long[] {1 << 20}, new byte[1 << 20]),
                new TensorData("second", DType.U8, new long[] {1 << 20}, new byte[1 << 20])));
        LoadOptions mmap = LoadOptions.DEFAULTS.withStrategy(LoadStrategy.MMAP).withThreads(1);
        System.out.println("mapped");
        try (LoadedWeights w = new Loader().execute(new Planner().plan(Checkpoint.open(file), mmap), (t, bytes) -> {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(0);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        })) {
            System.out.println("loaded despite truncation");
        } catch (StloadException e) {
            System.out.println("kind=" + e.kind() + " file=" + e.file());
        }
        System.out.println("alive");
    }
}
