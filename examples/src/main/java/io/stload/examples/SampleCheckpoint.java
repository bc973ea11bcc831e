package io.stload.examples;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A two-tensor F32 checkpoint whose every value follows from its name and index, so a reader can check
 * what it got without keeping a copy: {@code embed} is 8 x 4, {@code norm} is 4.
 */
record SampleCheckpoint(Path dir) {
    static final String EMBED = "model.embed_tokens.weight";
    static final String NORM = "model.norm.weight";
    static final long[] EMBED_SHAPE = {8, 4};
    static final long[] NORM_SHAPE = {4};

    static SampleCheckpoint writeTo(Path dir) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of("format", "pt"), List.of(
                new TensorData(EMBED, DType.F32, EMBED_SHAPE, values(EMBED, 32)),
                new TensorData(NORM, DType.F32, NORM_SHAPE, values(NORM, 4))));
        return new SampleCheckpoint(dir);
    }

    /** The value written at {@code index} of tensor {@code name}. */
    static float expected(String name, long index) {
        return (name.equals(EMBED) ? 0.5f : -0.25f) * index + name.length();
    }

    /** Checks every value of {@code tensor}; returns how many were checked. */
    static long check(Tensor tensor) {
        long count = tensor.byteSize() / Float.BYTES;
        for (long i = 0; i < count; i++) {
            float got = tensor.getFloat(i);
            if (got != expected(tensor.name(), i)) {
                throw new AssertionError(tensor.name() + "[" + i + "] is " + got + ", expected " + expected(tensor.name(), i));
            }
        }
        return count;
    }

    private static byte[] values(String name, int count) {
        ByteBuffer b = ByteBuffer.allocate(count * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            b.putFloat(expected(name, i));
        }
        return b.array();
    }
}
