package io.stload.jmh;

import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Parsing and validating the header of a 10,000-tensor file (about 1.2 MB of JSON, the size of a large MoE
 * shard's header): from the file, which adds two reads, and from bytes already in memory. Tensors hold 8
 * bytes each, so the file is almost all header.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class HeaderParseBenchmark {
    private static final int TENSORS = 10_000;
    private static final int EXPERTS = 128;

    private Path dir;
    private Path file;
    private byte[] fileBytes;

    @Setup
    public void writeFile() throws IOException {
        dir = Files.createTempDirectory("stload-header-bench");
        file = dir.resolve("model.safetensors");
        List<Entry> entries = new ArrayList<>(TENSORS);
        for (int i = 0; i < TENSORS; i++) {
            String name = "model.layers." + i / (3 * EXPERTS) + ".mlp.experts." + i / 3 % EXPERTS + "."
                    + List.of("gate_proj", "up_proj", "down_proj").get(i % 3) + ".weight";
            entries.add(new Entry(name, DType.BF16, new long[]{2, 2}));
        }
        SafetensorsWriter.write(file, Map.of("format", "pt"), entries, (e, out) -> {
            ByteBuffer zeros = ByteBuffer.allocate((int) e.byteSize());
            while (zeros.hasRemaining()) {
                out.write(zeros);
            }
        });
        fileBytes = Files.readAllBytes(file);
    }

    @TearDown
    public void deleteFile() throws IOException {
        Files.deleteIfExists(file);
        Files.deleteIfExists(dir);
    }

    @Benchmark
    public Header readFromFile() {
        return HeaderParser.read(file);
    }

    @Benchmark
    public Header parseInMemory() {
        return HeaderParser.parse(fileBytes, file);
    }
}
