package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Typed access to a tensor: rows as views, one index per dimension, every float and integer type decoded in bulk
 * into arrays and buffers (each element as {@link Tensor#getFloat(long)} reads it, which is checked against the
 * format's definitions), an immutable shape, and clear errors for a dtype or an index that does not fit.
 */
class TypedAccessTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A [3, 4, 5] tensor of random bits (NaNs, infinities and subnormals included for the float types). */
    private static Tensor random(DType dtype, long seed) {
        byte[] bytes = new byte[3 * 4 * 5 * dtype.byteSize()];
        new SplittableRandom(seed).nextBytes(bytes);
        return new Tensor(new TensorInfo("t", dtype, new long[] {3, 4, 5}, 0, bytes.length),
                MemorySegment.ofArray(bytes));
    }

    /** A tensor kept past its owner's close reads as the caller's misuse, whatever the accessor. */
    @Test
    void aReadAfterTheMemoryWasFreedIsAUsageError() {
        Arena arena = Arena.ofShared();
        Tensor t = new Tensor(new TensorInfo("kept", DType.F32, new long[] {2, 2}, 0, 16), arena.allocate(16));
        arena.close();
        List<Runnable> reads = List.of(() -> t.getFloat(0), () -> t.getFloat(1, 1), t::toFloatArray,
                () -> t.toFloats(new float[4], 0), () -> t.toFloats(FloatBuffer.allocate(4), 0),
                () -> t.copyTo(0, MemorySegment.ofArray(new byte[4])), () -> t.row(1).getFloat(0));
        for (Runnable read : reads) {
            StloadException e = assertThrows(StloadException.class, read::run);
            assertEquals("Usage: kept: its memory was freed: the weights, checkpoint or lease it was read from is"
                    + " closed", e.getMessage());
        }
    }

    /** The element's value as the format defines it, computed here without the loader's tables or loops. */
    private static float expected(Tensor t, long i) {
        MemorySegment d = t.data();
        return switch (t.dtype()) {
            case F32 -> d.getAtIndex(F32, i);
            case BF16 -> Float.intBitsToFloat(d.getAtIndex(I16, i) << 16);
            case F16 -> Float.float16ToFloat(d.getAtIndex(I16, i));
            case F8_E5M2 -> Float.float16ToFloat((short) (d.get(ValueLayout.JAVA_BYTE, i) << 8));
            case F8_E4M3 -> e4m3(d.get(ValueLayout.JAVA_BYTE, i) & 0xff);
            case I8 -> d.get(ValueLayout.JAVA_BYTE, i);
            case U8 -> d.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            case I16 -> d.getAtIndex(I16, i);
            case U16 -> d.getAtIndex(I16, i) & 0xffff;
            case I32 -> d.getAtIndex(I32, i);
            case U32 -> Integer.toUnsignedLong(d.getAtIndex(I32, i));
            case I64 -> d.getAtIndex(I64, i);
            case U64 -> new java.math.BigDecimal(Long.toUnsignedString(d.getAtIndex(I64, i))).floatValue();
            default -> throw new AssertionError(t.dtype());
        };
    }

    /** OCP F8 E4M3 ("fn"): bias 7, no infinities, S.1111.111 the only NaN. */
    private static float e4m3(int b) {
        float sign = (b & 0x80) != 0 ? -1 : 1;
        int e = (b >>> 3) & 0xf;
        int m = b & 7;
        if (e == 15 && m == 7) {
            return Float.NaN;
        }
        return sign * (e == 0 ? m / 8f * (float) Math.pow(2, -6) : (1 + m / 8f) * (float) Math.pow(2, e - 7));
    }

    private static void assertSameFloat(float expected, float actual, String what) {
        if (Float.isNaN(expected)) {
            assertEquals(true, Float.isNaN(actual), what + ": expected NaN, got " + actual);
        } else {
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(actual),
                    what + ": expected " + expected + ", got " + actual);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "BF16", "F16", "F8_E4M3", "F8_E5M2", "I8", "U8", "I16", "U16", "I32", "U32", "I64",
        "U64"})
    void everyElementDecodesAsTheFormatSaysSingleAndInBulk(DType dtype) {
        Tensor t = random(dtype, dtype.ordinal());
        int n = 60;
        for (int i = 0; i < n; i++) {
            assertSameFloat(expected(t, i), t.getFloat(i), dtype + "[" + i + "]");
        }
        float[] array = new float[n + 3];
        t.toFloats(array, 3);
        FloatBuffer heap = FloatBuffer.allocate(n + 2);
        t.toFloats(heap, 2);
        FloatBuffer directLe = ByteBuffer.allocateDirect((n + 1) * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        t.toFloats(directLe, 1);
        FloatBuffer directBe = ByteBuffer.allocateDirect((n + 1) * 4).order(ByteOrder.BIG_ENDIAN).asFloatBuffer();
        t.toFloats(directBe, 1);
        float[] whole = t.toFloatArray();
        for (int i = 0; i < n; i++) {
            float e = expected(t, i);
            assertSameFloat(e, array[3 + i], dtype + " into an array at 3, [" + i + "]");
            assertSameFloat(e, heap.get(2 + i), dtype + " into a heap buffer at 2, [" + i + "]");
            assertSameFloat(e, directLe.get(1 + i), dtype + " into a direct little-endian buffer, [" + i + "]");
            assertSameFloat(e, directBe.get(1 + i), dtype + " into a big-endian buffer, [" + i + "]");
            assertSameFloat(e, whole[i], dtype + " toFloatArray [" + i + "]");
        }
        assertEquals(0, heap.position(), "the buffer's position stays");
        assertEquals(0, array[2], "nothing before the offset is written");
    }

    @Test
    void f8IsReadByGetFloat() {
        Tensor e4m3 = new Tensor(new TensorInfo("e", DType.F8_E4M3, new long[] {4}, 0, 4),
                MemorySegment.ofArray(new byte[] {0x38, (byte) 0xb8, 0x7e, 0x7f}));
        assertEquals(List.of(1f, -1f, 448f), List.of(e4m3.getFloat(0), e4m3.getFloat(1), e4m3.getFloat(2)));
        assertEquals(true, Float.isNaN(e4m3.getFloat(3)));
        Tensor e5m2 = new Tensor(new TensorInfo("e", DType.F8_E5M2, new long[] {3}, 0, 3),
                MemorySegment.ofArray(new byte[] {0x3c, 0x7b, 0x7c}));
        assertEquals(List.of(1f, 57344f, Float.POSITIVE_INFINITY),
                List.of(e5m2.getFloat(0), e5m2.getFloat(1), e5m2.getFloat(2)));
    }

    @Test
    void aRowIsAViewOfItsBytesAndElementsHaveOneIndexPerDimension() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(3 * 4 * 5 * 4);
            for (int i = 0; i < 60; i++) {
                m.setAtIndex(F32, i, i);
            }
            Tensor t = new Tensor(new TensorInfo("w", DType.F32, new long[] {3, 4, 5}, 1000, 1240), m);
            Tensor row = t.row(2);
            assertEquals(Shape.of(4, 5), row.shape());
            assertEquals(List.of(1160L, 1240L), List.of(row.info().begin(), row.info().end()));
            assertEquals(m.address() + 160, row.data().address(), "a view, not a copy");
            assertEquals(45f, row.getFloat(1, 0));
            assertEquals(47f, t.getFloat(2, 1, 2));
            assertEquals(47, t.index(2, 1, 2));
            assertEquals(52f, t.row(2).row(2).getFloat(2));
            m.setAtIndex(F32, 59, -1f);
            assertEquals(-1f, row.getFloat(3, 4), "the view sees the memory it views");
            float[] decoded = new float[20];
            row.toFloats(decoded, 0);
            assertEquals(40f, decoded[0]);
            assertEquals(-1f, decoded[19]);
        }
    }

    @Test
    void theShapeIsImmutableAndNotCopied() {
        Tensor t = random(DType.F32, 1);
        assertSame(t.shape(), t.shape());
        assertSame(t.shape(), t.info().shape());
        long[] dims = t.shape().toArray();
        dims[0] = 99;
        assertEquals(Shape.of(3, 4, 5), t.shape());
        assertEquals("[3, 4, 5]", t.shape().toString());
        assertEquals(List.of(20L, 5L, 1L), List.of(t.shape().stride(0), t.shape().stride(1), t.shape().stride(2)));
        assertEquals(60, t.elementCount());
        assertEquals(List.of(1, 2, 4, 8), List.of(DType.U8.byteSize(), DType.BF16.byteSize(), DType.F32.byteSize(),
                DType.C64.byteSize()));
    }

    @Test
    void whatDoesNotFitIsAClearError() {
        Tensor f32 = random(DType.F32, 2);
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> f32.getInt(0)).kind());
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> f32.index(1, 2)).kind());
        assertThrows(IndexOutOfBoundsException.class, () -> f32.index(1, 4, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> f32.row(3));
        assertThrows(IndexOutOfBoundsException.class, () -> f32.row(-1));
        assertThrows(IndexOutOfBoundsException.class, () -> f32.getFloat(60));
        assertThrows(IndexOutOfBoundsException.class, () -> f32.toFloats(new float[60], 1));
        assertThrows(IndexOutOfBoundsException.class, () -> f32.toFloats(FloatBuffer.allocate(100).limit(60), 1));
        assertThrows(java.nio.ReadOnlyBufferException.class,
                () -> f32.toFloats(FloatBuffer.allocate(60).asReadOnlyBuffer(), 0));
        Tensor scalar = new Tensor(new TensorInfo("s", DType.F32, new long[0], 0, 4), MemorySegment.ofArray(new byte[4]));
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> scalar.row(0)).kind());
        assertEquals(0f, scalar.getFloat(0));
        Tensor f64 = random(DType.F64, 3);
        assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, f64::toFloatArray).kind());
        assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, () -> f64.getFloat(0)).kind());
        Tensor nibbles = new Tensor(new TensorInfo("n", DType.F4, new long[] {2, 3}, 0, 3),
                MemorySegment.ofArray(new byte[3]));
        assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, () -> nibbles.row(1)).kind());
        for (Runnable nulls : List.<Runnable>of(() -> f32.index((long[]) null), () -> f32.getFloat((long[]) null),
                () -> f32.toFloats((float[]) null, 0), () -> f32.toFloats((FloatBuffer) null, 0),
                () -> f32.copyTo(0, null), () -> Tensor.ofMapping(f32.info(), f32.data(), null))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, nulls::run).kind());
        }
    }

    /** An entry whose shape does not cover its bytes is refused where it meets them: no read trusts it. */
    @Test
    void anEntryWhoseShapeDisagreesWithItsBytesIsUsage() {
        MemorySegment eight = MemorySegment.ofArray(new byte[8]);
        for (long[] shape : new long[][] {{4}, {1}, {1L << 62, 4}, {-1, 2}}) {
            StloadException e = assertThrows(StloadException.class,
                    () -> new Tensor(new TensorInfo("x", DType.F32, shape, 0, 8), eight), java.util.Arrays.toString(shape));
            assertEquals(ErrorKind.Usage, e.kind(), e.getMessage());
        }
        assertEquals(2, new Tensor(new TensorInfo("x", DType.F32, new long[] {2}, 0, 8), eight).info().elementCount());
    }

    /** An index whose byte offset wraps past 2^64 onto a real element is outside the tensor all the same. */
    @Test
    void aHugeIndexIsOutsideTheTensorNotAnotherElement() {
        for (DType d : List.of(DType.U8, DType.I16, DType.I32, DType.I64, DType.F64, DType.F32, DType.BF16)) {
            Tensor t = random(d, 4);
            for (long index : new long[] {1L << 62, (1L << 62) + 2, (1L << 63) | 2, 1L << 61, Long.MIN_VALUE, -1}) {
                assertThrows(IndexOutOfBoundsException.class, () -> {
                    switch (d) {
                        case U8 -> t.getByte(index);
                        case I16 -> t.getShort(index);
                        case I32 -> t.getInt(index);
                        case I64 -> t.getLong(index);
                        case F64 -> t.getDouble(index);
                        default -> t.getFloat(index);
                    }
                }, d + " at " + index);
            }
        }
    }

    /** A caller's shape of more elements than a long holds is refused, not wrapped to a small count. */
    @Test
    void aShapeOfMoreElementsThanALongHoldsIsAUsageError() {
        for (Shape huge : List.of(Shape.of(Long.MAX_VALUE, 2), Shape.of(1L << 32, 1L << 31), Shape.of(-1L, 1))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, huge::elementCount).kind(),
                    huge::toString);
        }
        assertEquals(0, Shape.of(0, -1L).elementCount());
        assertEquals(Long.MAX_VALUE, Shape.of(Long.MAX_VALUE, 1).elementCount());
        assertEquals(1L << 62, Shape.of(1L << 31, 1L << 31).elementCount());
    }

    @Test
    void memoryOfAnotherSizeThanTheTensorIsRefused() {
        TensorInfo info = new TensorInfo("t", DType.F32, new long[] {4}, 0, 16);
        for (int size : new int[] {0, 2, 12, 20}) {
            StloadException e = assertThrows(StloadException.class,
                    () -> new Tensor(info, MemorySegment.ofArray(new byte[size])));
            assertEquals(ErrorKind.Usage, e.kind());
            assertEquals("t is 16 bytes, but the memory given for it is " + size, e.detail());
        }
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> new Tensor(info, null)).kind());
    }
}
