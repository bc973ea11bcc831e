package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the writer produces, the parser reads back unchanged: names, dtypes, shapes, metadata and bytes. */
class SafetensorsWriterRoundTripTest {
    @TempDir
    Path dir;

    @Test
    void everyDtypeRoundTripsWithMetadataAndUnicodeNames() throws IOException {
        Random random = new Random(42);
        List<TensorData> written = new ArrayList<>();
        for (DType dtype : DType.values()) {
            if (!dtype.isKnown()) {
                continue;
            }
            // Two by four elements: a whole number of bytes for the 4- and 6-bit types too.
            byte[] data = new byte[dtype.bits()];
            random.nextBytes(data);
            written.add(new TensorData("層." + dtype.name().toLowerCase() + ".é🙂\"\\", dtype, new long[] {2, 4}, data));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put("ünïcode", "\"quoted\"\n\u0000");
        assertRoundTrip(metadata, written);
    }

    @Test
    void withoutMetadataAndWithEmptyAndScalarTensors() throws IOException {
        assertRoundTrip(null, List.of(
                new TensorData("empty", DType.F32, new long[] {0, 7}, new byte[0]),
                new TensorData("scalar", DType.I64, new long[0], new byte[] {1, 2, 3, 4, 5, 6, 7, 8}),
                new TensorData("f6", DType.F6_E3M2, new long[] {4}, new byte[] {9, 8, 7})));
    }

    @Test
    void fileWithoutTensorsRoundTrips() throws IOException {
        Header h = assertRoundTrip(Map.of(), List.of());
        assertEquals(Map.of(), h.metadata());
        assertEquals(0, h.dataBytes());
    }

    @Test
    void headerIsPaddedWithSpacesToAMultipleOfEight() throws IOException {
        for (int nameLength = 1; nameLength <= 8; nameLength++) {
            Path file = dir.resolve("pad" + nameLength + ".safetensors");
            SafetensorsWriter.write(file, null, List.of(new TensorData("n".repeat(nameLength), DType.U8, new long[] {1}, new byte[] {1})));
            byte[] raw = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(raw, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, n % 8);
            String json = new String(raw, 8, (int) n, StandardCharsets.UTF_8);
            String trimmed = json.stripTrailing();
            assertEquals('}', trimmed.charAt(trimmed.length() - 1));
            assertEquals(" ".repeat(json.length() - trimmed.length()), json.substring(trimmed.length()));
        }
    }

    @Test
    void typedAccessorsReturnTheValuesWritten() throws IOException {
        float[] floats = {1.5f, -0.0f, Float.MAX_VALUE, Float.NaN, Float.NEGATIVE_INFINITY};
        float[] halves = {1.5f, -2f, 65504f, 0.000061035156f}; // exact in F16
        float[] bfloats = {1f, -3.5f, Float.intBitsToFloat(0x7F7F0000), Float.intBitsToFloat(0x00010000)}; // exact in BF16
        int[] ints = {0, -1, Integer.MIN_VALUE, Integer.MAX_VALUE};
        long[] longs = {Long.MIN_VALUE, -1, 0, Long.MAX_VALUE};
        double[] doubles = {Math.PI, -0.0, Double.MIN_VALUE};
        byte[] bytes = {0, 1, -1, 127, -128};
        short[] shorts = {-1, Short.MIN_VALUE, 12345};

        ByteBuffer f32 = le(4 * floats.length);
        for (float f : floats) {
            f32.putFloat(f);
        }
        ByteBuffer f16 = le(2 * halves.length);
        ByteBuffer bf16 = le(2 * bfloats.length);
        for (int i = 0; i < halves.length; i++) {
            f16.putShort(Float.floatToFloat16(halves[i]));
            bf16.putShort((short) (Float.floatToRawIntBits(bfloats[i]) >>> 16));
        }
        ByteBuffer i32 = le(4 * ints.length);
        for (int v : ints) {
            i32.putInt(v);
        }
        ByteBuffer i64 = le(8 * longs.length);
        for (long v : longs) {
            i64.putLong(v);
        }
        ByteBuffer f64 = le(8 * doubles.length);
        for (double v : doubles) {
            f64.putDouble(v);
        }
        ByteBuffer i16 = le(2 * shorts.length);
        for (short v : shorts) {
            i16.putShort(v);
        }
        Path file = dir.resolve("typed.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                new TensorData("f32", DType.F32, new long[] {floats.length}, f32.array()),
                new TensorData("f16", DType.F16, new long[] {halves.length}, f16.array()),
                new TensorData("bf16", DType.BF16, new long[] {bfloats.length}, bf16.array()),
                new TensorData("u32", DType.U32, new long[] {ints.length}, i32.array()),
                new TensorData("u64", DType.U64, new long[] {longs.length}, i64.array()),
                new TensorData("f64", DType.F64, new long[] {doubles.length}, f64.array()),
                new TensorData("i8", DType.I8, new long[] {bytes.length}, bytes),
                new TensorData("i16", DType.I16, new long[] {shorts.length}, i16.array())));

        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile sf = SafetensorsFile.open(file, arena);
            for (int i = 0; i < floats.length; i++) {
                assertEquals(Float.floatToRawIntBits(floats[i]), Float.floatToRawIntBits(sf.tensor("f32").getFloat(i)));
            }
            for (int i = 0; i < halves.length; i++) {
                assertEquals(halves[i], sf.tensor("f16").getFloat(i));
                assertEquals(bfloats[i], sf.tensor("bf16").getFloat(i));
            }
            for (int i = 0; i < ints.length; i++) {
                assertEquals(ints[i], sf.tensor("u32").getInt(i));
                assertEquals(longs[i], sf.tensor("u64").getLong(i));
            }
            for (int i = 0; i < doubles.length; i++) {
                assertEquals(doubles[i], sf.tensor("f64").getDouble(i));
            }
            for (int i = 0; i < bytes.length; i++) {
                assertEquals(bytes[i], sf.tensor("i8").getByte(i));
            }
            for (int i = 0; i < shorts.length; i++) {
                assertEquals(shorts[i], sf.tensor("i16").getShort(i));
            }
            // Accessors check the dtype and the bounds rather than reinterpreting bytes; integers decode to floats.
            assertEquals(4294967295f, sf.tensor("u32").getFloat(1));
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> sf.tensor("f32").getInt(0)).kind());
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> sf.tensor("f64").getLong(0)).kind());
            assertEquals(ErrorKind.Unsupported,
                    assertThrows(StloadException.class, () -> sf.tensor("f64").getFloat(0)).kind());
            assertThrows(IndexOutOfBoundsException.class, () -> sf.tensor("f32").getFloat(floats.length));
        }
    }

    @Test
    void writerRefusesWhatTheParserWouldReject() throws IOException {
        TensorData x = new TensorData("x", DType.U8, new long[] {1}, new byte[1]);
        assertThrows(StloadException.class, () -> SafetensorsWriter.write(dir.resolve("dup.safetensors"), null, List.of(x, x)));
        assertThrows(StloadException.class, () -> SafetensorsWriter.write(dir.resolve("meta.safetensors"), null,
                List.of(new TensorData("__metadata__", DType.U8, new long[] {1}, new byte[1]))));
        assertThrows(StloadException.class, () -> SafetensorsWriter.write(dir.resolve("odd.safetensors"), null,
                List.of(new TensorData("f4", DType.F4, new long[] {3}, new byte[2]))));
        assertEquals("s: 4 bytes given for a F32 tensor of 8 bytes", assertThrows(StloadException.class,
                () -> new TensorData("s", DType.F32, new long[] {2}, new byte[4])).detail());
        // The reference reads __metadata__ as strings to strings, and a header as UTF-8: no null, no lone surrogate.
        Map<String, String> nullValue = new LinkedHashMap<>();
        nullValue.put("k", null);
        assertEquals("__metadata__ maps strings to strings, not null (key `k`)", assertThrows(StloadException.class,
                () -> SafetensorsWriter.write(dir.resolve("null.safetensors"), nullValue, List.of(x))).detail());
        assertEquals("a tensor name is Unicode text, and one has a lone surrogate (U+D800) after `x`",
                assertThrows(StloadException.class,
                        () -> new TensorData("x\uD800", DType.U8, new long[] {1}, new byte[1])).detail());
        assertThrows(StloadException.class, () -> SafetensorsWriter.write(dir.resolve("key.safetensors"),
                Map.of("\uDC00k", "v"), List.of(x)));
        assertThrows(StloadException.class, () -> SafetensorsWriter.write(dir.resolve("value.safetensors"),
                Map.of("k", "v\uD83D"), List.of(x)));
        // A header no reader takes (the reference's limit, and the parser's) is not written.
        String huge = "x".repeat((int) HeaderParser.MAX_HEADER_SIZE);
        assertTrue(assertThrows(StloadException.class, () -> SafetensorsWriter.header(Map.of("k", huge), List.of()))
                .detail().endsWith("a reader takes: fewer tensors or less metadata per file"));
        // A pair is one character, written as UTF-8.
        assertRoundTrip(Map.of("emoji", "\uD83D\uDE00"), List.of(new TensorData("\uD83D\uDE00", DType.U8, new long[] {1},
                new byte[1])));
        Files.delete(dir.resolve("rt.safetensors"));
        // A refused write leaves nothing behind, not even its temporary file.
        assertEquals(List.of(), list(dir));
    }

    private Header assertRoundTrip(Map<String, String> metadata, List<TensorData> written) throws IOException {
        Path file = dir.resolve("rt.safetensors");
        SafetensorsWriter.write(file, metadata, written);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile sf = SafetensorsFile.open(file, arena);
            Header h = sf.header();
            assertEquals(metadata != null, h.hasMetadata());
            if (metadata == null) {
                assertEquals(Map.of(), h.metadata());
            } else {
                assertEquals(metadata, h.metadata());
            }
            assertEquals(0, h.headerLength() % 8);
            assertEquals(written.size(), h.tensors().size());
            long offset = 0;
            for (int i = 0; i < written.size(); i++) {
                TensorData w = written.get(i);
                Tensor t = sf.tensor(w.name());
                assertEquals(new TensorInfo(w.name(), w.dtype(), w.shape(), offset, offset + w.data().length), t.info());
                assertEquals(t.info(), h.tensors().get(i), "tensors keep the order they were written in");
                assertArrayEquals(w.data(), t.data().toArray(ValueLayout.JAVA_BYTE));
                offset += w.data().length;
            }
            assertFalse(list(dir).stream().anyMatch(p -> p.getFileName().toString().contains(".tmp-")));
            return h;
        }
    }

    private static ByteBuffer le(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static List<Path> list(Path dir) {
        try (var s = Files.list(dir)) {
            return s.toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
