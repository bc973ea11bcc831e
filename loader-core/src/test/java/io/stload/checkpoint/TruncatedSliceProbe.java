package io.stload.checkpoint;

import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Run in its own JVM by {@link LazyAccessTest}: views a tensor (mapping its file), truncates the file, then
 * slices the tensor, and prints how that ended. A JVM killed by SIGBUS prints nothing after "mapped".
 */
public final class TruncatedSliceProbe {
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        SafetensorsWriter.write(file, Map.of(), List.of(
                new TensorData("t", DType.U8, new long[] {256, 4096}, new byte[1 << 20])));
        try (Checkpoint ckpt = Checkpoint.open(file)) {
            ckpt.view("t");
            System.out.println("mapped");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(0);
            }
            ckpt.slice("t", "128:256");
            System.out.println("sliced despite truncation");
        } catch (StloadException e) {
            System.out.println("kind=" + e.kind() + " file=" + e.file());
        }
        System.out.println("alive");
    }
}
