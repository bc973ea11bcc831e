package io.stload.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Tiny checkpoints with the same tensor table whose every byte is one constant per checkpoint, so a reader
 * can tell from any byte which checkpoint, and so which version, it is looking at.
 */
final class FilledCheckpoints {
    static final byte A = 0x11;
    static final byte B = 0x22;
    static final List<String> NAMES = List.of("embed.weight", "layers.0.attn.weight", "layers.0.norm", "lm_head.weight");

    private FilledCheckpoints() {
    }

    static Path write(Path dir, String fileName, byte fill) throws IOException {
        return write(dir, fileName, fill, 64);
    }

    /** {@code width} sets the embedding's first dimension, so a different width is a different layout. */
    static Path write(Path dir, String fileName, byte fill, long width) throws IOException {
        Path file = dir.resolve(fileName);
        SafetensorsWriter.write(file, Map.of("format", "pt"), List.of(
                filled(NAMES.get(0), DType.BF16, new long[] {width, 32}, fill),
                filled(NAMES.get(1), DType.F32, new long[] {32, 32}, fill),
                filled(NAMES.get(2), DType.F32, new long[] {32}, fill),
                filled(NAMES.get(3), DType.U8, new long[] {1000}, fill)));
        return file;
    }

    private static TensorData filled(String name, DType dtype, long[] shape, byte fill) {
        long elements = Arrays.stream(shape).reduce(1, Math::multiplyExact);
        byte[] data = new byte[Math.toIntExact(elements * dtype.bits() / 8)];
        Arrays.fill(data, fill);
        return new TensorData(name, dtype, shape, data);
    }

    /** Every byte of the tensor is {@code fill}. */
    static void assertFilled(Tensor t, byte fill) {
        byte[] expected = new byte[Math.toIntExact(t.byteSize())];
        Arrays.fill(expected, fill);
        assertEquals(-1, t.data().mismatch(MemorySegment.ofArray(expected)),
                () -> t.name() + " is not entirely 0x" + Integer.toHexString(fill));
    }

    /** Reloads alternate A, B, A, ... starting from version 1 = A. */
    static byte fillOf(long version) {
        return version % 2 == 1 ? A : B;
    }
}
