package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Conversion checked against the formats' definitions, written here the plainest way (sign, exponent and
 * significand to a double; nearest value by comparing distances), for every pattern of each 8- and 16-bit type,
 * through every entry point: one element, segment to array, and segment to an unaligned native segment.
 */
class ConvertTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A binary float format: exponent and significand widths, and whether all-ones exponents are inf/NaN. */
    private record Format(int exponentBits, int mantissaBits, boolean ieeeSpecials) {
        int bias() {
            return (1 << (exponentBits - 1)) - 1;
        }

        int width() {
            return 1 + exponentBits + mantissaBits;
        }

        boolean isNaN(int p) {
            int e = (p >>> mantissaBits) & ((1 << exponentBits) - 1);
            int m = p & ((1 << mantissaBits) - 1);
            int allOnes = (1 << exponentBits) - 1;
            return ieeeSpecials ? e == allOnes && m != 0 : e == allOnes && m == (1 << mantissaBits) - 1;
        }

        /** The value of a pattern that is not a NaN. */
        double value(int p) {
            boolean negative = (p >>> (width() - 1)) != 0;
            int e = (p >>> mantissaBits) & ((1 << exponentBits) - 1);
            int m = p & ((1 << mantissaBits) - 1);
            double magnitude;
            if (ieeeSpecials && e == (1 << exponentBits) - 1) {
                magnitude = Double.POSITIVE_INFINITY;
            } else if (e == 0) {
                magnitude = m * Math.pow(2, 1 - bias() - mantissaBits);
            } else {
                magnitude = (1 + m / Math.pow(2, mantissaBits)) * Math.pow(2, e - bias());
            }
            return negative ? -magnitude : magnitude;
        }
    }

    private static final Format BF16 = new Format(8, 7, true);
    private static final Format F16 = new Format(5, 10, true);
    private static final Format E4M3 = new Format(4, 3, false);
    private static final Format E5M2 = new Format(5, 2, true);

    /** What each NaN pattern widens to: BF16 is the top half of an F32; F16/E5M2 move their payload up; E4M3 has none. */
    private static int nanBits(DType type, int p) {
        return switch (type) {
            case BF16 -> p << 16;
            case F16 -> (p & 0x8000) << 16 | 0x7f80_0000 | (p & 0x3ff) << 13;
            case F8_E5M2 -> (p & 0x80) << 24 | 0x7f80_0000 | (p & 0x3) << 21;
            case F8_E4M3 -> (p & 0x80) << 24 | 0x7fc0_0000;
            default -> throw new AssertionError(type);
        };
    }

    private static int expectedBits(DType type, Format f, int p) {
        return f.isNaN(p) ? nanBits(type, p) : Float.floatToRawIntBits((float) f.value(p));
    }

    @Test
    void everyBf16PatternWidensExactly() {
        checkEveryPattern(DType.BF16, BF16);
    }

    @Test
    void everyF16PatternWidensExactly() {
        checkEveryPattern(DType.F16, F16);
    }

    @Test
    void everyE4m3PatternWidensExactly() {
        checkEveryPattern(DType.F8_E4M3, E4M3);
    }

    @Test
    void everyE5m2PatternWidensExactly() {
        checkEveryPattern(DType.F8_E5M2, E5M2);
    }

    @Test
    void e4m3HasNoInfinityAndTopsOutAt448() {
        assertEquals(448f, Convert.e4m3ToF32((byte) 0x7e));
        assertEquals(-448f, Convert.e4m3ToF32((byte) 0xfe));
        assertTrue(Float.isNaN(Convert.e4m3ToF32((byte) 0x7f)));
        assertEquals(0x1p-9f, Convert.e4m3ToF32((byte) 0x01));
        assertEquals(57344f, Convert.e5m2ToF32((byte) 0x7b));
        assertEquals(Float.NEGATIVE_INFINITY, Convert.e5m2ToF32((byte) 0xfc));
    }

    private static void checkEveryPattern(DType type, Format f) {
        int n = 1 << f.width();
        int bytes = f.width() / 8;
        byte[] all = new byte[n * bytes];
        MemorySegment src = MemorySegment.ofArray(all);
        for (int p = 0; p < n; p++) {
            if (bytes == 2) {
                src.setAtIndex(I16, p, (short) p);
            } else {
                all[p] = (byte) p;
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nativeSrc = arena.allocate(src.byteSize() + 1).asSlice(1);
            nativeSrc.copyFrom(src);
            checkEveryPattern(type, f, src, arena);
            checkEveryPattern(type, f, nativeSrc, arena);
        }
    }

    /** From heap and from native memory (unaligned), as a loader hands either to the conversion. */
    private static void checkEveryPattern(DType type, Format f, MemorySegment src, Arena arena) {
        int n = 1 << f.width();
        int bytes = f.width() / 8;
        float[] toArray = Convert.toF32(type, src);
        MemorySegment unaligned = arena.allocate(n * 4L + 1).asSlice(1);
        Convert.toF32(type, src, unaligned);
        // BF16's scalar loop, which the bulk call skips when the Vector API is in use; other types have one loop.
        MemorySegment scalar = unaligned;
        if (type == DType.BF16) {
            scalar = arena.allocate(n * 4L);
            Convert.bf16ToF32Scalar(src, scalar, n);
        }
        for (int p = 0; p < n; p++) {
            int expected = expectedBits(type, f, p);
            float one = bytes == 2
                    ? (type == DType.BF16 ? Convert.bf16ToF32((short) p) : Convert.f16ToF32((short) p))
                    : (type == DType.F8_E4M3 ? Convert.e4m3ToF32((byte) p) : Convert.e5m2ToF32((byte) p));
            String what = type + " pattern 0x" + Integer.toHexString(p) + (src.isNative() ? " from native" : " from heap");
            assertEquals(expected, Float.floatToRawIntBits(one), what + " (one element)");
            assertEquals(expected, Float.floatToRawIntBits(toArray[p]), what + " (to an array)");
            assertEquals(expected, Float.floatToRawIntBits(unaligned.getAtIndex(F32, p)), what + " (to a segment)");
            assertEquals(expected, Float.floatToRawIntBits(scalar.getAtIndex(F32, p)), what + " (scalar loop)");
        }
    }

    @Test
    void f32NarrowsToBf16ToNearestEven() {
        checkNarrowing(DType.BF16, BF16, 0x7f80);
    }

    @Test
    void f32NarrowsToF16ToNearestEven() {
        checkNarrowing(DType.F16, F16, 0x7c00);
    }

    @Test
    void narrowingEdgeCases() {
        // Ties: halfway between 1.0 and the next BF16 (1 + 2^-7) goes to the even one, 1.0; the next tie goes up.
        assertEquals(0x3f80, Convert.f32ToBf16(1f + 0x1p-8f));
        assertEquals(0x3f82, Convert.f32ToBf16(1f + 3 * 0x1p-8f));
        assertEquals(0x3c00, Convert.f32ToF16(1f + 0x1p-11f));
        assertEquals(0x3c02, Convert.f32ToF16(1f + 3 * 0x1p-11f));
        // Overflow: F16's max is 65504; from 65520 (max + half an ulp) it is infinity.
        assertEquals(0x7bff, Convert.f32ToF16(65519.996f));
        assertEquals(0x7c00, Convert.f32ToF16(65520f));
        assertEquals((short) 0xfc00, Convert.f32ToF16(-1e9f));
        assertEquals(0x7f80, Convert.f32ToBf16(Float.MAX_VALUE));
        assertEquals(0x7f7f, Convert.f32ToBf16(0x1.fdfffep127f));
        // Subnormals: F16's smallest is 2^-24; half of it is a tie that goes to zero, a bit more goes up.
        assertEquals(0x0001, Convert.f32ToF16(0x1p-24f));
        assertEquals(0x0000, Convert.f32ToF16(0x1p-25f));
        assertEquals(0x0001, Convert.f32ToF16(Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x8000, Convert.f32ToF16(-0x1p-26f));
        assertEquals(0x0000, Convert.f32ToBf16(Float.MIN_VALUE));
        assertEquals(0x0001, Convert.f32ToBf16(0x1p-133f));
        // NaN stays NaN with its sign, even one whose payload lies wholly in the bits that are dropped.
        for (int nan : new int[] {0x7fc0_0000, 0xffc0_0000, 0x7f80_0001, 0xff80_0001, 0x7fbf_ffff}) {
            float f = Float.intBitsToFloat(nan);
            short b = Convert.f32ToBf16(f);
            short h = Convert.f32ToF16(f);
            assertTrue(Float.isNaN(Convert.bf16ToF32(b)), Integer.toHexString(nan));
            assertTrue(Float.isNaN(Convert.f16ToF32(h)), Integer.toHexString(nan));
            assertEquals(nan < 0, b < 0);
            assertEquals(nan < 0, h < 0);
        }
    }

    /**
     * Every tie between neighbours of the narrow type, one F32 ulp either side of it, every exact value, both
     * signs, the specials and random F32s: each checked against the nearest value by distance, ties to the even
     * pattern, and past the largest finite value the next power of two standing for infinity.
     */
    private static void checkNarrowing(DType type, Format f, int infinity) {
        List<Float> inputs = new ArrayList<>();
        for (int p = 0; p < infinity; p++) {
            float exact = (float) f.value(p);
            double next = p + 1 == infinity ? Math.pow(2, f.bias() + 1) : f.value(p + 1);
            float tie = (float) ((f.value(p) + next) / 2);
            inputs.addAll(List.of(exact, tie, Math.nextUp(tie), Math.nextDown(tie)));
        }
        SplittableRandom random = new SplittableRandom(11);
        for (int i = 0; i < 50_000; i++) {
            inputs.add(Float.intBitsToFloat(random.nextInt()));
        }
        inputs.addAll(List.of(Float.MAX_VALUE, Float.MIN_VALUE, Float.MIN_NORMAL, Float.POSITIVE_INFINITY, 0f));
        float[] src = new float[inputs.size() * 2];
        for (int i = 0; i < inputs.size(); i++) {
            src[2 * i] = inputs.get(i);
            src[2 * i + 1] = -inputs.get(i);
        }
        MemorySegment narrow = MemorySegment.ofArray(Convert.fromF32(type, src));
        MemorySegment scalar = narrow; // as above: only BF16 has a second bulk loop
        if (type == DType.BF16) {
            scalar = MemorySegment.ofArray(new short[src.length]);
            Convert.f32ToBf16Scalar(MemorySegment.ofArray(src), scalar, src.length);
        }
        for (int i = 0; i < src.length; i++) {
            short one = type == DType.BF16 ? Convert.f32ToBf16(src[i]) : Convert.f32ToF16(src[i]);
            short bulk = narrow.getAtIndex(I16, i);
            String what = type + " from " + Float.toHexString(src[i]);
            assertEquals(bulk, scalar.getAtIndex(I16, i), what + " (scalar loop)");
            if (Float.isNaN(src[i])) {
                assertTrue(f.isNaN(one & 0xffff) && f.isNaN(bulk & 0xffff), what);
                assertEquals(src[i] < 0 || Float.floatToRawIntBits(src[i]) < 0, one < 0, what);
                continue;
            }
            int expected = nearest(f, infinity, src[i]);
            assertEquals(expected, one & 0xffff, what);
            assertEquals(expected, bulk & 0xffff, what + " (bulk)");
        }
    }

    private static int nearest(Format f, int infinity, float x) {
        int sign = Float.floatToRawIntBits(x) < 0 ? 1 << (f.width() - 1) : 0;
        double a = Math.abs((double) x);
        double top = Math.pow(2, f.bias() + 1); // infinity, as the value rounding would reach
        if (a >= top) {
            return sign | infinity;
        }
        int lo = 0;
        int hi = infinity; // value(lo) <= a < value(hi)
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (f.value(mid) <= a) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double below = a - f.value(lo);
        double above = (hi == infinity ? top : f.value(hi)) - a;
        int chosen = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
        return sign | chosen;
    }

    @Test
    void theBulkLoopsRunOnTheVectorApiWhenTheRuntimeHasIt() {
        boolean added = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        assertEquals(added, Convert.vectorized(), "with the module added (the suite adds it) on a CPU with 256-bit vectors");
    }

    @Test
    void oddLengthsAtOddOffsetsConvertEveryElement() {
        SplittableRandom random = new SplittableRandom(2);
        for (int n : new int[] {0, 1, 3, 4095, 4097}) {
            byte[] bytes = new byte[n * 4 + 1];
            random.nextBytes(bytes);
            MemorySegment f32 = MemorySegment.ofArray(bytes).asSlice(1, n * 4L);
            MemorySegment bf16 = MemorySegment.ofArray(new byte[n * 2 + 3]).asSlice(3, n * 2L);
            Convert.fromF32(DType.BF16, f32, bf16);
            float[] back = Convert.toF32(DType.BF16, bf16);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment nativeBf16 = arena.allocate(n * 2L + 3).asSlice(3);
                nativeBf16.copyFrom(bf16);
                float[] backFromNative = Convert.toF32(DType.BF16, nativeBf16);
                MemorySegment nativeBack = arena.allocate(n * 4L + 1).asSlice(1);
                Convert.toF32(DType.BF16, nativeBf16, nativeBack);
                assertEquals(n, back.length);
                assertEquals(n, backFromNative.length);
                for (int i = 0; i < n; i++) {
                    short expected = Convert.f32ToBf16(f32.getAtIndex(F32, i));
                    String where = n + " elements, element " + i;
                    assertEquals(expected, bf16.getAtIndex(I16, i), where);
                    assertEquals(expected << 16, Float.floatToRawIntBits(back[i]), where);
                    assertEquals(expected << 16, Float.floatToRawIntBits(backFromNative[i]), where + " (from native)");
                    assertEquals(expected << 16, nativeBack.getAtIndex(I32, i), where + " (native to native)");
                }
            }
        }
    }

    @Test
    void f32ToF32IsACopyAndOtherTypesAreRefused() {
        float[] values = {1.5f, -2f, Float.NaN};
        MemorySegment src = MemorySegment.ofArray(new byte[12]);
        for (int i = 0; i < 3; i++) {
            src.setAtIndex(F32, i, values[i]);
        }
        assertEquals(List.of(1.5f, -2f, Float.NaN), boxed(Convert.toF32(DType.F32, src)));
        StloadException e = assertThrows(StloadException.class, () -> Convert.toF32(DType.C64, src));
        assertEquals(ErrorKind.Unsupported, e.kind());
        assertThrows(StloadException.class, () -> Convert.fromF32(DType.F8_E4M3, values));
        assertThrows(StloadException.class, () -> Convert.toF32(DType.BF16, src.asSlice(0, 3)));
        assertThrows(StloadException.class,
                () -> Convert.toF32(DType.BF16, src, MemorySegment.ofArray(new byte[11])));
    }

    /** Caller misuse: a read-only destination, an index the element width would wrap back into the segment. */
    @Test
    void aReadOnlyDestinationIsUsageAndAFarIndexIsOutOfBounds() {
        MemorySegment src = MemorySegment.ofArray(new byte[8]);
        src.setAtIndex(F32, 0, 42f);
        MemorySegment readOnly = MemorySegment.ofArray(new byte[8]).asReadOnly();
        assertEquals(ErrorKind.Usage,
                assertThrows(StloadException.class, () -> Convert.toF32(DType.F32, src, readOnly)).kind());
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> Convert.fromF32(DType.BF16, MemorySegment.ofArray(new byte[8]), readOnly)).kind());
        for (long index : new long[] {1L << 62, 1L << 61, Long.MIN_VALUE, -1, 8}) {
            for (DType t : new DType[] {DType.F32, DType.BF16, DType.I64, DType.U8}) {
                assertThrows(IndexOutOfBoundsException.class, () -> Convert.f32At(t, src, index), t + " at " + index);
            }
        }
        assertEquals(42f, Convert.f32At(DType.F32, src, 0));
    }

    private static List<Float> boxed(float[] a) {
        List<Float> out = new ArrayList<>();
        for (float v : a) {
            out.add(v);
        }
        return out;
    }
}
