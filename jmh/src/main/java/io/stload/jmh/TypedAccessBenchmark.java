package io.stload.jmh;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Typed row decode on one core against a plain copy of the same bytes: each invocation takes the next row of a BF16
 * tensor ({@code rows} x {@code cols}, 8 MiB by default, so rows come from beyond the L2 cache) and either decodes it
 * into a {@code float[]} ({@code tensor.row(r).toFloats(out, 0)}: the row view, the dtype check and Convert's loop) or
 * copies its bytes into a {@code byte[]} ({@link MemorySegment#copy}). The {@code inputBytes} counter is the rate
 * that matters: row bytes per second; {@code decodeRow} over {@code copyRow} is the ratio of issue 29's target (at
 * least 0.5x). {@code source} is where the tensor's bytes are: {@code host}, native memory as a load leaves them, or
 * {@code view}, a lazy view of a file's mapping (page cache warm), whose typed reads carry the truncation guard.
 * The fork adds the Vector API module, which BF16's loop uses; the long warm-up is for C2, which compiles that loop
 * (interpreted, a row takes milliseconds) slowly on a busy machine.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 10, time = 2)
@Measurement(iterations = 15, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Threads(1)
@State(Scope.Thread)
public class TypedAccessBenchmark {
    /** Elements per row: 4096 BF16s, 8 KiB, a hidden dimension's row. */
    @Param({"4096"})
    public int cols;

    /** Rows: a power of two. */
    @Param({"1024"})
    public int rows;

    @Param({"host", "view"})
    public String source;

    private Arena arena;
    private Path dir;
    private Checkpoint checkpoint;
    private Tensor tensor;
    private long rowBytes;
    private float[] decoded;
    private MemorySegment copied;
    private int row;

    /** Bytes of rows handled, reported per second. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Rate {
        public long inputBytes;
    }

    @Setup(Level.Trial)
    public void allocate() throws IOException {
        rowBytes = (long) cols * 2;
        byte[] random = new byte[(int) (rowBytes * rows)];
        new SplittableRandom(1).nextBytes(random);
        if (source.equals("host")) {
            arena = Arena.ofShared();
            MemorySegment m = arena.allocate(random.length, 64);
            MemorySegment.copy(MemorySegment.ofArray(random), 0, m, 0, random.length);
            tensor = new Tensor(new TensorInfo("w", DType.BF16, new long[] {rows, cols}, 0, random.length), m);
        } else {
            dir = Files.createTempDirectory("typed-access");
            Path file = dir.resolve("w.safetensors");
            SafetensorsWriter.write(file, Map.of(), List.of(new TensorData("w", DType.BF16,
                    new long[] {rows, cols}, random)));
            checkpoint = Checkpoint.open(file);
            tensor = checkpoint.viewTensor("w");
            tensor.toFloatArray(); // faults the mapping's pages in
        }
        decoded = new float[cols];
        copied = MemorySegment.ofArray(new byte[(int) rowBytes]);
    }

    @TearDown(Level.Trial)
    public void free() throws IOException {
        if (arena != null) {
            arena.close();
        }
        if (checkpoint != null) {
            checkpoint.close();
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    @Benchmark
    public float decodeRow(Rate rate) {
        tensor.row(row).toFloats(decoded, 0);
        row = (row + 1) & (rows - 1);
        rate.inputBytes += rowBytes;
        return decoded[0];
    }

    @Benchmark
    public MemorySegment copyRow(Rate rate) {
        MemorySegment.copy(tensor.data(), row * rowBytes, copied, 0, rowBytes);
        row = (row + 1) & (rows - 1);
        rate.inputBytes += rowBytes;
        return copied;
    }
}
