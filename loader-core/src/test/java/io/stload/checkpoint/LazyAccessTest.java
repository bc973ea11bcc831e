package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Convert;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Lazy access: info, zero-copy views, copies and slices of a two-shard checkpoint, and their errors. */
class LazyAccessTest {
    @TempDir
    Path dir;

    /** cube[i][j][k] = byte (i * 100 + j * 10 + k), so every element names its own index. */
    private final byte[] cube = new byte[5 * 6 * 7];
    private final byte[] bf16 = new byte[4 * 3 * 2];

    @BeforeEach
    void write() throws IOException {
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 6; j++) {
                for (int k = 0; k < 7; k++) {
                    cube[(i * 6 + j) * 7 + k] = (byte) (i * 100 + j * 10 + k);
                }
            }
        }
        MemorySegment b = MemorySegment.ofArray(bf16);
        for (int i = 0; i < 12; i++) {
            b.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Convert.f32ToBf16(i * 0.5f));
        }
        byte[] noise = new byte[4099];
        new SplittableRandom(5).nextBytes(noise);
        SafetensorsWriter.write(dir.resolve("s1.safetensors"), Map.of("format", "pt"), List.of(
                new TensorData("noise", DType.U8, new long[] {4099}, noise),
                new TensorData("cube", DType.U8, new long[] {5, 6, 7}, cube)));
        SafetensorsWriter.write(dir.resolve("s2.safetensors"), Map.of("format", "pt"), List.of(
                new TensorData("emb", DType.BF16, new long[] {4, 3}, bf16),
                new TensorData("nibbles", DType.F4, new long[] {4, 2}, new byte[4])));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"metadata\":{\"total_size\":4333},"
                + "\"weight_map\":{\"noise\":\"s1.safetensors\",\"cube\":\"s1.safetensors\",\"emb\":\"s2.safetensors\","
                + "\"nibbles\":\"s2.safetensors\"}}");
    }

    @Test
    void infoAndViewReadTheTensorWithoutCopying() {
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertEquals(DType.U8, ckpt.info("cube").dtype());
            assertArrayEquals(new long[] {5, 6, 7}, ckpt.info("cube").shape().toArray());
            assertEquals("pt", ckpt.tensor("emb").file().metadata().get("format"));
            assertEquals("4333", ckpt.indexMetadata().get("total_size"));
            MemorySegment view = ckpt.view("cube");
            assertTrue(view.isReadOnly());
            assertTrue(view.isMapped());
            assertArrayEquals(cube, view.toArray(ValueLayout.JAVA_BYTE));
            assertEquals(1.5f, ckpt.viewTensor("emb").getFloat(3));
            assertArrayEquals(new float[] {0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f, 4, 4.5f, 5, 5.5f},
                    Convert.toF32(DType.BF16, ckpt.view("emb")));
        }
    }

    @Test
    void closingUnmapsEveryViewAndLaterViewsAreRefused() {
        Checkpoint ckpt = Checkpoint.open(dir);
        MemorySegment view = ckpt.view("cube");
        Tensor copy = ckpt.copy("cube");
        ckpt.close();
        assertThrows(IllegalStateException.class, () -> view.get(ValueLayout.JAVA_BYTE, 0));
        StloadException closed = assertThrows(StloadException.class, () -> ckpt.view("cube"));
        assertEquals(ErrorKind.Usage, closed.kind(), "a call on a closed checkpoint is the caller's misuse");
        assertArrayEquals(cube, copy.data().toArray(ValueLayout.JAVA_BYTE), "a copy outlives the checkpoint");
        ckpt.close();
    }

    @Test
    void aSliceOfAFileTruncatedUnderItsMappingIsAnIoErrorNamingTheFile() throws Exception {
        Path file = dir.resolve("truncated.safetensors");
        Process p = ChildJvm.main(TruncatedSliceProbe.class).args(file.toString()).builder()
                .redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
        List<String> out = Files.readAllLines(dir.resolve("out"));
        assertEquals(0, p.exitValue(), String.join("\n", out));
        assertEquals(List.of("mapped", "kind=Io file=" + file.toRealPath(), "alive"), out);
    }

    /** Rewritten in place at the same size no page faults: the copy checks the file is still the one it opened. */
    @Test
    void aCopyOfAFileRewrittenInPlaceIsAnIoErrorNotTheOtherBytes() throws Exception {
        Path file = dir.resolve("rewritten.safetensors");
        SafetensorsWriter.write(file, Map.of(), List.of(new TensorData("w", DType.U8, new long[] {4096},
                new byte[4096])));
        try (Checkpoint ckpt = Checkpoint.open(file); Arena arena = Arena.ofConfined()) {
            assertEquals(0, ckpt.copy("w", arena).data().get(ValueLayout.JAVA_BYTE, 0));
            byte[] other = Files.readAllBytes(file);
            other[other.length - 1] = 7;
            FileTime before = Files.getLastModifiedTime(file);
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) { // same inode, as `cp` writes
                ch.write(ByteBuffer.wrap(other), 0);
            }
            // The clock's tick may be coarser than the rewrite: make the modification time say it happened.
            Files.setLastModifiedTime(file, FileTime.fromMillis(before.toMillis() + 1000));
            StloadException e = assertThrows(StloadException.class, () -> ckpt.copy("w", arena));
            assertEquals(ErrorKind.Io, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains(": was modified after its header was read"), e.getMessage());
        }
    }

    @Test
    void aCheckpointNeverViewedNeedsNoClosing() {
        Checkpoint ckpt = Checkpoint.open(dir);
        assertEquals(4, ckpt.tensors().size());
        ckpt.close();
    }

    @Test
    void copyIntoTheCallersArena() {
        try (Checkpoint ckpt = Checkpoint.open(dir); Arena arena = Arena.ofConfined()) {
            Tensor t = ckpt.copy("emb", arena);
            assertArrayEquals(bf16, t.data().toArray(ValueLayout.JAVA_BYTE));
            assertArrayEquals(new long[] {4, 3}, t.shape().toArray());
            assertTrue(!t.data().isReadOnly() && !t.data().isMapped());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"", ":", "0:4,:", "1:3", "1:3,2:5", "1:3,2:5,3:6", ":,:,4", "2", "-1", "-2:,1,-3:",
            ":,0:0", "4:5,5:6,6:7"})
    void sliceHoldsExactlyTheSelectedElementsInRowMajorOrder(String ranges) {
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            Tensor s = ckpt.slice("cube", ranges);
            long[][] r = expectedRanges(ranges, new long[] {5, 6, 7});
            int n = 0;
            for (long i = r[0][0]; i < r[0][1]; i++) {
                for (long j = r[1][0]; j < r[1][1]; j++) {
                    for (long k = r[2][0]; k < r[2][1]; k++) {
                        assertEquals((byte) (i * 100 + j * 10 + k), s.data().get(ValueLayout.JAVA_BYTE, n++),
                                ranges + " element " + n);
                    }
                }
            }
            assertEquals(n, s.byteSize(), ranges);
            assertEquals(n, s.info().elementCount(), ranges);
        }
    }

    /** Python's meaning of {@code ranges} for this shape (no clamping needed for the cases above). */
    private static long[][] expectedRanges(String ranges, long[] shape) {
        long[][] r = new long[shape.length][];
        String[] items = ranges.isEmpty() ? new String[0] : ranges.split(",", -1);
        for (int d = 0; d < shape.length; d++) {
            String item = d < items.length ? items[d] : ":";
            if (!item.contains(":")) {
                long i = Long.parseLong(item);
                i = i < 0 ? i + shape[d] : i;
                r[d] = new long[] {i, i + 1};
                continue;
            }
            String[] p = item.split(":", -1);
            long a = p[0].isEmpty() ? 0 : Long.parseLong(p[0]);
            long b = p[1].isEmpty() ? shape[d] : Long.parseLong(p[1]);
            r[d] = new long[] {a < 0 ? a + shape[d] : a, b < 0 ? b + shape[d] : b};
        }
        return r;
    }

    @Test
    void aSliceIsReadAsFewContiguousRunsOfOnlyItsBytes() {
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            TensorInfo cube = ckpt.info("cube"); // [5, 6, 7] of bytes
            assertRuns(1, 2 * 42, SliceSpec.parse("1:3", cube));
            assertRuns(5, 2 * 7, SliceSpec.parse(":,2:4", cube));
            assertRuns(2, 4 * 7, SliceSpec.parse("1:3,2:6", cube));
            assertRuns(30, 1, SliceSpec.parse(":,:,3", cube));
            assertRuns(1, 210, SliceSpec.parse(":,:,:", cube));
            assertRuns(0, 0, SliceSpec.parse("2:2", cube));
        }
    }

    private static void assertRuns(long runs, long runBytes, SliceSpec s) {
        assertEquals(runs, s.runs());
        assertEquals(runBytes, s.runBytes());
        assertEquals(runs * runBytes, s.byteSize());
    }

    @Test
    void aSingleIndexDropsItsDimension() {
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertArrayEquals(new long[] {6, 7}, ckpt.slice("cube", "2").shape().toArray());
            assertArrayEquals(new long[] {2, 3}, ckpt.slice("cube", "1:3,4,2:5").shape().toArray());
            assertArrayEquals(new long[] {}, ckpt.slice("cube", "1,2,3").shape().toArray());
            assertArrayEquals(new float[] {1.5f, 2f, 2.5f, 3f, 3.5f, 4f}, Convert.toF32(ckpt.slice("emb", "1:3,:")));
            assertArrayEquals(new float[] {0.5f, 2f, 3.5f, 5f}, Convert.toF32(ckpt.slice("emb", ":,1")));
        }
    }

    @Test
    void badSlicesAreOneClearError() {
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            for (String bad : List.of("a:b", "0:1:0", "0:1:-1", "0:1:2:3", "...,...", "1,2,3,4", "0:6", "5", "-6", "3:2", "0:1,x", "1.5")) {
                StloadException e = assertThrows(StloadException.class, () -> ckpt.slice("cube", bad), bad);
                assertEquals(ErrorKind.InvalidSlice, e.kind(), bad);
                assertTrue(e.getMessage().contains("cube") && e.getMessage().contains(bad), e.getMessage());
            }
            assertTrue(assertThrows(StloadException.class, () -> ckpt.slice("cube", "0:6")).getMessage()
                    .contains("outside dimension 0 of size 5"));
            assertEquals(ErrorKind.Unsupported,
                    assertThrows(StloadException.class, () -> ckpt.slice("nibbles", "0:1")).kind());
            assertEquals(4, ckpt.slice("nibbles", ":").byteSize(), "a sub-byte tensor whole is fine");
            assertEquals(ErrorKind.TensorNotFound,
                    assertThrows(StloadException.class, () -> ckpt.slice("missing", ":")).kind());
            for (String huge : List.of("x".repeat(1 << 20), "0," + "1:2,".repeat(1 << 18) + "x")) {
                StloadException e = assertThrows(StloadException.class, () -> ckpt.slice("cube", huge));
                assertEquals(ErrorKind.InvalidSlice, e.kind());
                assertTrue(e.getMessage().length() < 600 && e.getMessage().contains(huge.length() + " characters"),
                        e.getMessage().length() + " characters: " + e.getMessage().substring(0, Math.min(300, e.getMessage().length())));
            }
        }
    }

    /**
     * A lazy view decodes through copies out of its mapping (the truncation-safe path), host memory straight: both
     * give every element's exact bits, at a length that ends in a partial step and a partial vector.
     */
    @Test
    void aViewDecodesToTheSameBitsAsTheSameBytesInHostMemory() throws IOException {
        List<DType> floats = List.of(DType.F32, DType.BF16, DType.F16, DType.F8_E4M3, DType.F8_E5M2, DType.I16, DType.U64);
        SplittableRandom random = new SplittableRandom(7);
        List<TensorData> tensors = floats.stream().map(d -> {
            byte[] bytes = new byte[3001 * d.byteSize()];
            random.nextBytes(bytes);
            return new TensorData(d.name(), d, new long[] {3001}, bytes);
        }).toList();
        Path file = dir.resolve("dtypes.safetensors");
        SafetensorsWriter.write(file, Map.of(), tensors);
        try (Checkpoint ckpt = Checkpoint.open(file)) {
            for (TensorData t : tensors) {
                Tensor view = ckpt.viewTensor(t.name());
                Tensor host = new Tensor(view.info(), MemorySegment.ofArray(t.data()));
                float[] expected = host.toFloatArray();
                float[] actual = view.toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                            t.name() + " element " + i);
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(view.getFloat(i)),
                            t.name() + " getFloat " + i);
                }
            }
        }
    }

    /** An allocator that cannot serve the copy is the caller's misuse, named as such, never a raw JDK exception. */
    @Test
    void aCopyIntoMemoryThatCannotTakeItIsAUsageError() throws Exception {
        Arena closed = Arena.ofConfined();
        closed.close();
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            Arena[] otherThreads = new Arena[1];
            Thread owner = Thread.ofPlatform().start(() -> otherThreads[0] = Arena.ofConfined());
            owner.join();
            byte[] readOnly = new byte[1 << 20];
            for (SegmentAllocator bad : List.<SegmentAllocator>of(closed, otherThreads[0],
                    (size, align) -> MemorySegment.ofArray(new byte[1]),
                    (size, align) -> null,
                    (size, align) -> MemorySegment.ofArray(readOnly).asReadOnly())) {
                StloadException e = assertThrows(StloadException.class, () -> ckpt.copy("cube", bad));
                assertEquals(ErrorKind.Usage, e.kind(), e.getMessage());
            }
            StloadException failing = assertThrows(StloadException.class, () -> ckpt.copy("cube", (size, align) -> {
                throw new ArithmeticException("the caller's own bug");
            }));
            assertEquals(ErrorKind.Callback, failing.kind());
            // A larger segment is fine: the copy takes the first bytes of it.
            Tensor copy = ckpt.copy("cube", (size, align) -> MemorySegment.ofArray(new byte[(int) size + 64]));
            assertEquals(ckpt.viewTensor("cube").byteSize(), copy.byteSize());
        }
    }
}
