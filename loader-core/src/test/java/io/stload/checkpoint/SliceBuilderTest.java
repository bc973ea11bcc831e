package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Slice;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Slices as Python's safetensors {@code get_slice} takes them (indices, ranges, steps, the ellipsis, negative
 * indices), built or parsed: the expected shapes and values below are what safetensors 0.8.0 with numpy returned for
 * {@code safe_open(f, "np").get_slice("a")[EXPR]} of {@code a = np.arange(120, dtype=np.int32).reshape(4, 6, 5)},
 * recorded here because the build runs without Python. A stepped slice reads only the runs it takes.
 */
class SliceBuilderTest {
    @TempDir
    static Path dir;

    /** a[i][j][k] = (i * 6 + j) * 5 + k, as I32. */
    @BeforeAll
    static void write() throws IOException {
        MemorySegment a = MemorySegment.ofArray(new byte[120 * 4]);
        for (int i = 0; i < 120; i++) {
            a.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, i);
        }
        SafetensorsWriter.write(dir.resolve("a.safetensors"), null, List.of(
                new TensorData("a", DType.I32, new long[] {4, 6, 5}, a.toArray(ValueLayout.JAVA_BYTE))));
    }

    static Stream<Arguments> python() {
        return Stream.of(
            Arguments.of("1", new long[] {6, 5}, new int[] {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59}),
            Arguments.of("1,", new long[] {6, 5}, new int[] {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59}),
            Arguments.of("-1", new long[] {6, 5}, new int[] {90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119}),
            Arguments.of("1:3", new long[] {2, 6, 5}, new int[] {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89}),
            Arguments.of("::2", new long[] {2, 6, 5}, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89}),
            Arguments.of("1::2", new long[] {2, 6, 5}, new int[] {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119}),
            Arguments.of("0:4:3", new long[] {2, 6, 5}, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119}),
            Arguments.of("...,1", new long[] {4, 6}, new int[] {1, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56, 61, 66, 71, 76, 81, 86, 91, 96, 101, 106, 111, 116}),
            Arguments.of("1,...", new long[] {6, 5}, new int[] {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59}),
            Arguments.of("...,1:3", new long[] {4, 6, 2}, new int[] {1, 2, 6, 7, 11, 12, 16, 17, 21, 22, 26, 27, 31, 32, 36, 37, 41, 42, 46, 47, 51, 52, 56, 57, 61, 62, 66, 67, 71, 72, 76, 77, 81, 82, 86, 87, 91, 92, 96, 97, 101, 102, 106, 107, 111, 112, 116, 117}),
            Arguments.of("1,...,2", new long[] {6}, new int[] {32, 37, 42, 47, 52, 57}),
            Arguments.of("...", new long[] {4, 6, 5}, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119}),
            Arguments.of(":,...,:", new long[] {4, 6, 5}, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119}),
            Arguments.of(":, ::2, 1", new long[] {4, 3}, new int[] {1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 101, 111}),
            Arguments.of("2:2", new long[] {0, 6, 5}, new int[] {}),
            Arguments.of("1, 2, 3", new long[] {}, new int[] {43}),
            Arguments.of("0:3:2, ::3, -1", new long[] {2, 2}, new int[] {4, 19, 64, 79}),
            Arguments.of(":, 1:6:2, ::4", new long[] {4, 3, 2}, new int[] {5, 9, 15, 19, 25, 29, 35, 39, 45, 49, 55, 59, 65, 69, 75, 79, 85, 89, 95, 99, 105, 109, 115, 119}),
            Arguments.of("-2, 5", new long[] {5}, new int[] {85, 86, 87, 88, 89}),
            Arguments.of("..., ::2", new long[] {4, 6, 3}, new int[] {0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19, 20, 22, 24, 25, 27, 29, 30, 32, 34, 35, 37, 39, 40, 42, 44, 45, 47, 49, 50, 52, 54, 55, 57, 59, 60, 62, 64, 65, 67, 69, 70, 72, 74, 75, 77, 79, 80, 82, 84, 85, 87, 89, 90, 92, 94, 95, 97, 99, 100, 102, 104, 105, 107, 109, 110, 112, 114, 115, 117, 119}),
            Arguments.of("::3, ..., 4", new long[] {2, 6}, new int[] {4, 9, 14, 19, 24, 29, 94, 99, 104, 109, 114, 119}),
            Arguments.of("3:, 0:6:5, 1:4:2", new long[] {1, 2, 2}, new int[] {91, 93, 116, 118}),
            Arguments.of("0:4:5", new long[] {1, 6, 5}, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}));
    }

    @ParameterizedTest(name = "a[{0}]")
    @MethodSource("python")
    void sliceAsPythonsGetSlice(String expr, long[] shape, int[] values) {
        try (Checkpoint ckpt = Checkpoint.open(dir.resolve("a.safetensors"))) {
            for (Tensor t : List.of(ckpt.slice("a", expr), ckpt.slice("a", Slice.parse(expr)))) {
                assertArrayEquals(shape, t.shape().toArray(), expr);
                int[] got = new int[values.length];
                for (int i = 0; i < got.length; i++) {
                    got[i] = t.getInt(i);
                }
                assertArrayEquals(values, got, expr);
                assertEquals(values.length * 4L, t.byteSize(), expr);
            }
            // The string form round-trips, and the spec's runs hold exactly the slice's bytes.
            assertEquals(Slice.parse(expr), Slice.parse(Slice.parse(expr).toString()), expr);
            SliceSpec spec = Slice.parse(expr).on(ckpt.info("a"));
            long[] sum = {0};
            spec.forEachRun((offset, at, length) -> sum[0] += length);
            assertEquals(values.length * 4L, sum[0], expr);
        }
    }

    @Test
    void theBuilderSaysWhatTheStringSays() {
        assertEquals(Slice.parse("64:128"), Slice.of(Slice.range(64, 128)));
        assertEquals(Slice.parse(":, 1::2"), Slice.of(Slice.all(), Slice.from(1).step(2)));
        assertEquals(Slice.parse("..., -1"), Slice.of(Slice.ellipsis(), Slice.at(-1)));
        assertEquals(Slice.parse(":3, ::4, -2:"), Slice.of(Slice.to(3), Slice.all().step(4), Slice.from(-2)));
        assertEquals(Slice.parse("0:4:3"), Slice.of(Slice.range(0, 4).step(3)));
        assertEquals(Slice.WHOLE, Slice.parse(" "));
        assertEquals("1:3, ::2, ..., -1", Slice.of(Slice.range(1, 3), Slice.all().step(2), Slice.ellipsis(),
                Slice.at(-1)).toString());
        try (Checkpoint ckpt = Checkpoint.open(dir.resolve("a.safetensors"))) {
            Tensor t = ckpt.slice("a", Slice.of(Slice.range(0, 3).step(2), Slice.all().step(3), Slice.at(-1)));
            assertArrayEquals(new long[] {2, 2}, t.shape().toArray());
            assertEquals(List.of(4, 19, 64, 79), List.of(t.getInt(0), t.getInt(1), t.getInt(2), t.getInt(3)));
        }
    }

    /** What safetensors refuses (its message after the expression), refused here too, as one InvalidSlice. */
    @ParameterizedTest
    @ValueSource(strings = {
        "::-1",    // Slice step must be a positive integer, got -1
        "::0",     // Slice step must be a positive integer, got 0
        "..., ...", // Only one ellipsis (...) is allowed in slice index
        ":,:,:,:", // more slicing indexes than dimensions in tensor
        "0:100",   // index 99 out of bounds for tensor dimension #0 of size 4
        "5:2",     // index 5 out of bounds for tensor dimension #0 of size 4
        "3:1",     // (the reference fails with a SystemError)
        "4",       // index 4 out of bounds for tensor dimension #0 of size 4
        "-5",      // Invalid index -5 for dimension 0 of size 4
        ":, 7",    // index 7 out of bounds for tensor dimension #1 of size 6
        "1:2:x", "1:2:3:4", "--1", ",", "1,,"})
    void whatTheReferenceRefusesIsAnInvalidSlice(String expr) {
        try (Checkpoint ckpt = Checkpoint.open(dir.resolve("a.safetensors"))) {
            StloadException e = assertThrows(StloadException.class, () -> ckpt.slice("a", expr));
            assertEquals(ErrorKind.InvalidSlice, e.kind(), e.getMessage());
            assertTrue(e.getMessage().startsWith("InvalidSlice: a: slice `"), e.getMessage());
        }
    }

    /** An error quotes a long slice cut short: its text is the caller's, of any length. */
    @Test
    void aLongSliceIsQuotedShortInItsError() {
        String many = "0," .repeat(100_000) + "0";
        try (Checkpoint ckpt = Checkpoint.open(dir.resolve("a.safetensors"))) {
            StloadException e = assertThrows(StloadException.class, () -> Slice.parse(many).on(ckpt.info("a")));
            assertEquals(ErrorKind.InvalidSlice, e.kind());
            assertTrue(e.getMessage().length() < 1000 && e.getMessage().contains("(200001 characters)"),
                    e.getMessage().substring(0, Math.min(300, e.getMessage().length())));
        }
        Slice.Item[] ellipses = new Slice.Item[50_000];
        java.util.Arrays.fill(ellipses, Slice.ellipsis());
        assertTrue(assertThrows(StloadException.class, () -> Slice.of(ellipses)).getMessage().length() < 1000);
    }

    @Test
    void aStepThatIsNotPositiveIsRefusedWhenBuilt() {
        assertEquals(ErrorKind.InvalidSlice, assertThrows(StloadException.class, () -> Slice.all().step(0)).kind());
        assertEquals(ErrorKind.InvalidSlice, assertThrows(StloadException.class, () -> Slice.all().step(-1)).kind());
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> Slice.at(1).step(2)).kind());
        assertEquals(ErrorKind.InvalidSlice,
                assertThrows(StloadException.class, () -> Slice.of(Slice.ellipsis(), Slice.ellipsis())).kind());
    }

    @Test
    void aSteppedSliceIsRunsOfWhatItTakes() {
        try (Checkpoint ckpt = Checkpoint.open(dir.resolve("a.safetensors"))) {
            SliceSpec rows = Slice.parse("::2").on(ckpt.info("a"));
            assertEquals(List.of(2L, 120L), List.of(rows.runs(), rows.runBytes()));
            SliceSpec inner = Slice.parse(":, 1:6:2, ::4").on(ckpt.info("a"));
            assertEquals(List.of(24L, 4L), List.of(inner.runs(), inner.runBytes()));
            SliceSpec contiguous = Slice.parse("1:3").on(ckpt.info("a"));
            assertTrue(contiguous.isContiguous());
            assertEquals(List.of(1L, 240L, 120L), List.of(contiguous.runs(), contiguous.runBytes(),
                    contiguous.firstByte()));
            List<long[]> runs = new ArrayList<>();
            Slice.parse("1::2, 0:6:5").on(ckpt.info("a")).forEachRun((o, at, n) -> runs.add(new long[] {o, at, n}));
            assertEquals(List.of("120 0 20", "220 20 20", "360 40 20", "460 60 20"),
                    runs.stream().map(r -> r[0] + " " + r[1] + " " + r[2]).toList());
        }
    }

    /** From object storage, a stepped slice fetches its runs and nothing between them beyond the folder's gap bound. */
    @Test
    void aSteppedSliceOfARemoteFileFetchesOnlyItsRuns() throws IOException {
        LocalRemoteFolder folder = new LocalRemoteFolder(dir, "remote://test/", 2, 64 << 10, 0);
        try (Checkpoint ckpt = Checkpoint.open(folder, "a.safetensors")) {
            long before = folder.bytesRead.get();
            Tensor t = ckpt.slice("a", "1::2, 0:6:5");
            assertEquals(80, folder.bytesRead.get() - before, "four runs of 20 bytes");
            assertEquals(List.of(30, 55, 90, 115), List.of(t.getInt(0), t.getInt(5), t.getInt(10), t.getInt(15)));
        }
    }
}
