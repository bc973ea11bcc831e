package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dimensions are unsigned 64-bit values: a tensor of zero elements may have one of 2^63 or more (held in a
 * negative long), and the reference accepts it as long as the element count, multiplied out in order, does not
 * overflow. Such a tensor slices, splits, reshards and loads as any other empty tensor.
 */
class UnsignedDimensionsTest {
    /** 2^64 - 1 and 2^63, as the longs that hold their bits. */
    static final long MAX = -1L;
    static final long HALF = Long.MIN_VALUE;

    @TempDir
    Path dir;
    Path file;

    @BeforeEach
    void fileWithHugeDimensions() throws IOException {
        file = dir.resolve("huge.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                new TensorData("z", DType.F32, new long[] {MAX, 0}, new byte[0]),
                new TensorData("w", DType.F32, new long[] {0, HALF}, new byte[0]),
                new TensorData("e", DType.BF16, new long[] {3, 0, MAX}, new byte[0]),
                new TensorData("v", DType.F32, new long[] {2, 2}, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                        14, 15, 16})));
    }

    private static TensorInfo info(long... shape) {
        return new TensorInfo("t", DType.F32, shape, 0, 0);
    }

    @Test
    void theWriterWritesThemUnsignedAndTheParserReadsThemBack() throws IOException {
        String header = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
        assertTrue(header.contains("\"shape\":[18446744073709551615,0]"), header);
        assertTrue(header.contains("\"shape\":[0,9223372036854775808]"), header);
        Header h = HeaderParser.read(file);
        assertArrayEquals(new long[] {MAX, 0}, h.tensor("z").shape().toArray());
        assertEquals("[0, 9223372036854775808]", h.tensor("w").shapeString());
        assertEquals(0, new Entry("z", DType.F32, new long[] {MAX, 0}).byteSize());
        // What the reader (and the reference) refuse, the writer refuses: the count overflows before the zero.
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> new Entry("o", DType.F32, new long[] {HALF, 2, 0}).byteSize()).kind());
        assertEquals(0, new Entry("o", DType.F32, new long[] {0, HALF, 2}).byteSize());
        // Nor does it write a file whose tensors add up past what a file holds: its offsets would wrap.
        for (List<Entry> beyond : List.of(List.of(new Entry("h", DType.U8, new long[] {HALF})),
                List.of(new Entry("a", DType.U8, new long[] {Long.MAX_VALUE}),
                        new Entry("b", DType.U8, new long[] {1})))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                    () -> SafetensorsWriter.header(null, beyond)).kind());
        }
    }

    @Test
    void slicesKeepHugeDimensionsUnsigned() {
        TensorInfo z = info(MAX, 0);
        SliceSpec s = SliceSpec.parse("0:4", z);
        assertArrayEquals(new long[] {4, 0}, s.shape().toArray());
        assertEquals(0, s.byteSize());
        assertEquals(0, s.runs());
        assertEquals(0, s.runBytes());
        assertArrayEquals(new long[] {0}, SliceSpec.parse("18446744073709551614", z).shape().toArray());
        assertArrayEquals(new long[] {0}, SliceSpec.parse("-1", z).shape().toArray());
        assertArrayEquals(new long[] {1, 0}, SliceSpec.parse("-1:", z).shape().toArray());
        assertArrayEquals(new long[] {MAX, 0}, SliceSpec.parse("-18446744073709551615:", z).shape().toArray());
        assertArrayEquals(new long[] {MAX - 9, 0}, SliceSpec.parse("9:", z).shape().toArray());
        assertArrayEquals(new long[] {HALF, 0}, SliceSpec.parse(":9223372036854775808", z).shape().toArray());
        assertArrayEquals(new long[] {MAX, 0}, SliceSpec.parse("", z).shape().toArray());
        TensorInfo w = info(0, HALF);
        assertArrayEquals(new long[] {0, 4}, SliceSpec.parse(":,5:9", w).shape().toArray());
        assertArrayEquals(new long[] {0, 0}, SliceSpec.parse(":,-1:-1", w).shape().toArray());
        assertEquals(0, SliceSpec.parse(":,5:9", w).byteSize());
        for (String outside : List.of("18446744073709551615", "-18446744073709551616", "18446744073709551616:",
                "0:18446744073709551616")) {
            StloadException e = assertThrows(StloadException.class, () -> SliceSpec.parse(outside, z), outside);
            assertEquals(ErrorKind.InvalidSlice, e.kind());
            assertTrue(e.getMessage().contains("outside dimension 0 of size 18446744073709551615"), e.getMessage());
        }
        StloadException e = assertThrows(StloadException.class, () -> SliceSpec.parse("1:", w));
        assertTrue(e.getMessage().contains("of size 0 "), e.getMessage());
        assertEquals(ErrorKind.InvalidSlice, assertThrows(StloadException.class, () -> SliceSpec.parse("5:4", z)).kind());
        assertEquals(ErrorKind.InvalidSlice, assertThrows(StloadException.class, () -> SliceSpec.parse("-+3", z)).kind());
        // Ordinary tensors slice as before, signs included.
        TensorInfo v = new TensorInfo("v", DType.F32, new long[] {3, 4}, 0, 48);
        assertArrayEquals(new long[] {2, 4}, SliceSpec.parse("-2:", v).shape().toArray());
        assertArrayEquals(new long[] {4}, SliceSpec.parse("-0", v).shape().toArray());
        assertEquals(16, SliceSpec.parse("+1", v).byteSize());
        assertEquals(ErrorKind.InvalidSlice, assertThrows(StloadException.class, () -> SliceSpec.parse("-4", v)).kind());
        assertEquals(ErrorKind.InvalidSlice, assertThrows(StloadException.class, () -> SliceSpec.parse("3", v)).kind());
    }

    @Test
    void aSplitOfAHugeDimensionGivesEachRankItsUnsignedShare() {
        try (Checkpoint ckpt = Checkpoint.open(file)) {
            TensorRef z = ckpt.tensor("z");
            TensorSlice r0 = TensorSlice.split(z, 0, false, 0, 2);
            TensorSlice r1 = TensorSlice.split(z, 0, false, 1, 2);
            assertArrayEquals(new long[] {HALF, 0}, r0.local().shape().toArray(), "2^63 rows: one more than rank 1");
            assertArrayEquals(new long[] {Long.MAX_VALUE, 0}, r1.local().shape().toArray());
            assertEquals(0, r0.byteSize());
            assertEquals(0, r1.byteSize());
            TensorRef w = ckpt.tensor("w");
            TensorSlice w1 = TensorSlice.split(w, 1, false, 1, 3);
            // 2^63 = 3q + 2: ranks 0 and 1 hold q + 1.
            assertArrayEquals(new long[] {0, Long.divideUnsigned(HALF, 3) + 1}, w1.local().shape().toArray());
            assertEquals(w.fileOffset(), w1.spanStart());
            assertEquals(w1.spanStart(), w1.spanEnd());
            assertEquals(List.of(), w1.reads(0));
            StloadException e = assertThrows(StloadException.class, () -> TensorSlice.split(z, 0, true, 0, 2));
            assertEquals(ErrorKind.Usage, e.kind());
            assertTrue(e.getMessage().contains("(18446744073709551615) does not divide by world size 2"), e.getMessage());
            assertArrayEquals(new long[] {3, 0, HALF}, TensorSlice.split(ckpt.tensor("e"), 2, false, 0, 2).local().shape().toArray());
        }
    }

    @Test
    void aCheckpointWithHugeDimensionsLoadsSlicesAndReshards() throws IOException {
        PartitionSpec rows = PartitionSpec.parse("rows", "{\"rules\": [{\"pattern\": \"*\", \"split\": 0}]}");
        try (Checkpoint ckpt = Checkpoint.open(file)) {
            assertArrayEquals(new long[] {4, 0}, ckpt.slice("z", "0:4").shape().toArray());
            assertArrayEquals(new long[] {0, 4}, ckpt.slice("w", ":,5:9").shape().toArray());
            for (int r = 0; r < 2; r++) {
                LoadOptions rank = LoadOptions.DEFAULTS.withPartitioning(new Partitioning(r, 2, rows));
                try (LoadedWeights loaded = Loader.load(ckpt, rank)) {
                    assertArrayEquals(new long[] {r == 0 ? HALF : Long.MAX_VALUE, 0}, loaded.tensor("z").shape().toArray());
                    assertArrayEquals(new long[] {0, HALF}, loaded.tensor("w").shape().toArray());
                    assertArrayEquals(new long[] {r == 0 ? 2 : 1, 0, MAX}, loaded.tensor("e").shape().toArray());
                    assertEquals(8, loaded.tensor("v").data().byteSize());
                }
            }
            Path out = dir.resolve("out");
            List<Path> folders = Resharder.reshard(ckpt, out, new Partitioning(0, 2, rows), Long.MAX_VALUE);
            try (Checkpoint rank1 = Checkpoint.open(folders.get(1))) {
                assertArrayEquals(new long[] {Long.MAX_VALUE, 0}, rank1.info("z").shape().toArray());
                assertArrayEquals(new long[] {0, HALF}, rank1.info("w").shape().toArray());
                Tensor v = rank1.copy("v");
                assertArrayEquals(new byte[] {9, 10, 11, 12, 13, 14, 15, 16}, v.data().toArray(ValueLayout.JAVA_BYTE));
            }
        }
    }

    @Test
    void theReferenceRuleForOverflowIsKept() throws IOException {
        // [2^63, 2, 0]: 2^63 * 2 overflows before the zero is reached, as in the reference: refused at parse, one line.
        Path bad = dir.resolve("bad.safetensors");
        String json = "{\"o\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808,2,0],\"data_offsets\":[0,0]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        byte[] bytes = new byte[8 + h.length];
        java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h);
        Files.write(bad, bytes);
        StloadException e = assertThrows(StloadException.class, () -> HeaderParser.read(bad));
        assertEquals(ErrorKind.ValidationOverflow, e.kind());
        assertEquals(1, e.getMessage().lines().count());
    }
}
