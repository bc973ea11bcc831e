package io.stload.format;

import static io.stload.format.LittleEndian.F32;
import static io.stload.format.LittleEndian.I16;
import static io.stload.format.LittleEndian.I32;
import static io.stload.format.LittleEndian.I64;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Bulk conversion between the float types a checkpoint stores and F32: BF16, F16, F8_E4M3 (the OCP "fn"
 * variant: no infinities, one NaN per sign, max 448) and F8_E5M2 widen to F32 exactly; F32 narrows to BF16
 * or F16 rounding to nearest, ties to even, overflowing to infinity, NaN staying NaN (sign and high payload
 * bits kept). Segments hold elements little-endian, as safetensors stores them, at any alignment; an array is
 * a segment through {@link MemorySegment#ofArray}, and {@link #toF32(DType, MemorySegment)} returns a new one.
 *
 * <p>Each conversion is one plain counted loop over elements: BF16's (a shift, and a branch-free rounding) run
 * over small arrays the JIT vectorizes, or on the Vector API where {@link #vectorized()} says so; F16 and the
 * 8-bit types are looked up in a table of every pattern (256 KiB for F16); F32 to F16 uses the CPU's conversion.
 * All are safe to call from any thread. A null argument is a {@link ErrorKind#Usage} error.
 */
public final class Convert {
    /** Steps of an array-staged loop per bulk copy: its arrays stay in the L1 cache. */
    private static final int CHUNK = 2048;

    /** Every F16 pattern decoded: a table keeps NaN payloads exact, which the CPU's conversion may not. */
    private static final float[] F16 = table(1 << 16, Convert::decodeF16);
    private static final float[] E4M3 = table(1 << 8, Convert::decodeE4M3);
    /** E5M2 is the top byte of an F16. */
    private static final float[] E5M2 = table(1 << 8, b -> F16[b << 8]);
    private static final boolean VECTORIZED = vectorsUsable();

    private Convert() {
    }

    /**
     * Whether BF16's bulk loops run on the Vector API: when the runtime was started with
     * {@code --add-modules jdk.incubator.vector} and the CPU has vectors of 256 bits or more. Without it they run
     * the staged scalar loop, several times slower (a quarter of the speed or less in the recorded figures of
     * docs/benchmarks.md); the results are the same bits either way.
     *
     * @return true if the Vector API is in use
     */
    public static boolean vectorized() {
        return VECTORIZED;
    }

    private static boolean vectorsUsable() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return false;
        }
        try {
            return VectorConvert.usable();
        } catch (LinkageError notReadable) { // a layer in which this module does not read the vector module
            return false;
        }
    }

    // ---- one element ----

    /**
     * Widens one BF16 element, exactly.
     *
     * @param bits the element's bit pattern
     * @return the value as a float
     */
    public static float bf16ToF32(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /**
     * Widens one F16 element, exactly.
     *
     * @param bits the element's bit pattern
     * @return the value as a float
     */
    public static float f16ToF32(short bits) {
        return F16[bits & 0xffff];
    }

    /**
     * Widens one F8_E4M3 element, exactly.
     *
     * @param bits the element's bit pattern
     * @return the value as a float
     */
    public static float e4m3ToF32(byte bits) {
        return E4M3[bits & 0xff];
    }

    /**
     * Widens one F8_E5M2 element, exactly.
     *
     * @param bits the element's bit pattern
     * @return the value as a float
     */
    public static float e5m2ToF32(byte bits) {
        return E5M2[bits & 0xff];
    }

    /**
     * Narrows one float to BF16, rounding to nearest even; a NaN keeps its sign and the top of its payload, and is
     * made quiet.
     *
     * @param f the value
     * @return the BF16 bit pattern
     */
    public static short f32ToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fff_ffff) > 0x7f80_0000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        // Adding 0x7fff rounds up past the halfway point; the kept low bit breaks a tie towards even.
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /**
     * Narrows one float to F16, rounding to nearest even (IEEE 754 binary16, {@link Float#floatToFloat16}, which the
     * JIT compiles to the CPU's conversion); a NaN stays a NaN of the same sign.
     *
     * @param f the value
     * @return the F16 bit pattern
     */
    public static short f32ToF16(float f) {
        return Float.floatToFloat16(f);
    }

    // ---- bulk ----

    /**
     * Whether F32 holds every value of this type exactly.
     *
     * @param type a dtype
     * @return true for F32 itself, BF16, F16, F8_E4M3 and F8_E5M2
     */
    public static boolean widensToF32(DType type) {
        requireType(type);
        return switch (type) {
            case F32, BF16, F16, F8_E4M3, F8_E5M2 -> true;
            default -> false;
        };
    }

    /**
     * Whether the bulk {@code toF32} methods read this type: the float types that widen exactly, and the integer
     * types, whose values become the nearest float (exact up to 2^24 in magnitude).
     *
     * @param type a dtype
     * @return true for F32, BF16, F16, F8_E4M3, F8_E5M2, I8, U8, I16, U16, I32, U32, I64 and U64
     */
    public static boolean decodesToF32(DType type) {
        requireType(type);
        return switch (type) {
            case F32, BF16, F16, F8_E4M3, F8_E5M2, I8, U8, I16, U16, I32, U32, I64, U64 -> true;
            default -> false;
        };
    }

    /**
     * Reads a tensor's elements as floats into a new array.
     *
     * @param t the tensor; its view must still be open
     * @return one float per element, row-major
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if the dtype does not decode to F32 or the
     *         elements do not fit one array; {@link ErrorKind#Io} if the tensor views a file's mapping and the file was
     *         truncated under it
     */
    public static float[] toF32(Tensor t) {
        StloadException.requireNonNull(t, "floats are read from a tensor, not null");
        return t.toFloatArray();
    }

    /**
     * Reads every element of {@code src} as floats into a new array.
     *
     * @param from the elements' type
     * @param src  the elements, little-endian
     * @return one float per element
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if the type does not decode to F32
     *         ({@link #decodesToF32}) or the elements do not fit one array
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code src} is not a whole number of elements
     */
    public static float[] toF32(DType from, MemorySegment src) {
        long n = elements(from, src);
        if (n > Integer.MAX_VALUE - 8) {
            throw new StloadException(ErrorKind.Unsupported, null, n + " elements do not fit one float array");
        }
        float[] out = new float[(int) n];
        toF32(from, src, MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Widens every element of {@code src} into {@code dst} as little-endian F32 (integers: the nearest float).
     *
     * @param from the elements' type
     * @param src  the elements, little-endian; not a file's mapping (decode a lazy view through its {@link Tensor},
     *             which reads a mapping so that a file truncated under it is an error, never a JVM crash)
     * @param dst  room for at least 4 bytes per element; may be larger
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if the type does not decode to F32
     *         ({@link #decodesToF32})
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code src} is not a whole number of
     *         elements, or {@code dst} is too small or read-only
     */
    public static void toF32(DType from, MemorySegment src, MemorySegment dst) {
        toF32(from, src, dst, false);
    }

    /**
     * {@link #toF32(DType, MemorySegment, MemorySegment)} from a file's mapping, which faults where the file was
     * truncated under it: every loop reads {@code src} only through bulk copies into arrays, the reads the JVM recovers
     * from (a fault becomes an {@link InternalError} thrown later); a vector load of a lost page crashes the JVM, and a
     * look-up indexed by what a faulting read left in its register reads anywhere. The caller guards the call.
     */
    static void toF32FromMapping(DType from, MemorySegment src, MemorySegment dst) {
        toF32(from, src, dst, true);
    }

    private static void toF32(DType from, MemorySegment src, MemorySegment dst, boolean mapping) {
        long n = elements(from, src);
        requireRoom(dst, n * Float.BYTES);
        switch (from) {
            case F32 -> MemorySegment.copy(src, 0, dst, 0, n * Float.BYTES);
            case BF16 -> {
                if (!VECTORIZED) {
                    bf16ToF32Scalar(src, dst, n);
                } else if (mapping) {
                    VectorConvert.bf16ToF32Copying(src, dst, n);
                } else {
                    VectorConvert.bf16ToF32(src, dst, n);
                }
            }
            case F16 -> {
                if (mapping) {
                    f16ToF32Copying(src, dst, n);
                } else {
                    f16ToF32(src, dst, n);
                }
            }
            case F8_E4M3, F8_E5M2 -> {
                float[] table = from == DType.F8_E4M3 ? E4M3 : E5M2;
                if (mapping) {
                    bytesToF32Copying(table, src, dst, n);
                } else {
                    bytesToF32(table, src, dst, n);
                }
            }
            case I8, U8, I16, U16, I32, U32, I64, U64 -> integersToF32(from, src, dst, n);
            default -> throw notWidening(from);
        }
    }

    /**
     * Reads one element of any type {@link #decodesToF32} accepts as a float.
     *
     * @param from  the element's type
     * @param src   the elements, little-endian
     * @param index the element's index
     * @return its value as a float (the nearest one, for a large integer)
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if the type does not decode to F32
     * @throws IndexOutOfBoundsException if the element lies outside {@code src}
     */
    public static float f32At(DType from, MemorySegment src, long index) {
        StloadException.requireNonNull(src, "an element is read from a segment, not null");
        requireType(from);
        if (index >>> 60 != 0) {
            // getAtIndex multiplies the index by the width unchecked: 2^62 F32s would wrap to byte 0.
            throw new IndexOutOfBoundsException("element " + index + " of a segment of " + src.byteSize() + " bytes");
        }
        return switch (from) {
            case F32 -> src.getAtIndex(F32, index);
            case BF16 -> bf16ToF32(src.getAtIndex(I16, index));
            case F16 -> f16ToF32(src.getAtIndex(I16, index));
            case F8_E4M3 -> E4M3[src.get(ValueLayout.JAVA_BYTE, index) & 0xff];
            case F8_E5M2 -> E5M2[src.get(ValueLayout.JAVA_BYTE, index) & 0xff];
            case I8 -> src.get(ValueLayout.JAVA_BYTE, index);
            case U8 -> src.get(ValueLayout.JAVA_BYTE, index) & 0xff;
            case I16 -> src.getAtIndex(I16, index);
            case U16 -> src.getAtIndex(I16, index) & 0xffff;
            case I32 -> src.getAtIndex(I32, index);
            case U32 -> src.getAtIndex(I32, index) & 0xffff_ffffL;
            case I64 -> src.getAtIndex(I64, index);
            case U64 -> unsignedToFloat(src.getAtIndex(I64, index));
            default -> throw notWidening(from);
        };
    }

    /** The float nearest to {@code v} read as unsigned: halved (keeping the low bit, for rounding) and doubled. */
    private static float unsignedToFloat(long v) {
        return v >= 0 ? (float) v : ((float) ((v >>> 1) | (v & 1))) * 2f;
    }

    /** Integers, through small arrays as {@link #bf16ToF32Scalar}: a bulk copy in, a loop the JIT vectorizes, out. */
    private static void integersToF32(DType from, MemorySegment src, MemorySegment dst, long n) {
        int width = from.byteSize();
        float[] out = new float[(int) Math.min(n, CHUNK)];
        for (long done = 0; done < n; done += out.length) {
            int k = (int) Math.min(out.length, n - done);
            switch (from) {
                case I8, U8 -> {
                    byte[] in = new byte[k];
                    MemorySegment.copy(src, ValueLayout.JAVA_BYTE, done, in, 0, k);
                    int mask = from == DType.U8 ? 0xff : -1;
                    for (int i = 0; i < k; i++) {
                        out[i] = in[i] & mask;
                    }
                }
                case I16, U16 -> {
                    short[] in = new short[k];
                    MemorySegment.copy(src, I16, done * width, in, 0, k);
                    int mask = from == DType.U16 ? 0xffff : -1;
                    for (int i = 0; i < k; i++) {
                        out[i] = in[i] & mask;
                    }
                }
                case I32 -> {
                    int[] in = new int[k];
                    MemorySegment.copy(src, I32, done * width, in, 0, k);
                    for (int i = 0; i < k; i++) {
                        out[i] = in[i];
                    }
                }
                case U32 -> {
                    int[] in = new int[k];
                    MemorySegment.copy(src, I32, done * width, in, 0, k);
                    for (int i = 0; i < k; i++) {
                        out[i] = in[i] & 0xffff_ffffL;
                    }
                }
                default -> {
                    long[] in = new long[k];
                    MemorySegment.copy(src, I64, done * width, in, 0, k);
                    for (int i = 0; i < k; i++) {
                        out[i] = from == DType.U64 ? unsignedToFloat(in[i]) : in[i];
                    }
                }
            }
            MemorySegment.copy(out, 0, dst, F32, done * Float.BYTES, k);
        }
    }

    /**
     * Narrows every F32 of {@code src} into {@code dst} as little-endian BF16 or F16.
     *
     * @param to  BF16 or F16
     * @param src little-endian F32 elements
     * @param dst room for at least 2 bytes per element; may be larger
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if {@code to} is neither BF16 nor F16
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code src} is not a whole number of floats,
     *         or {@code dst} is too small or read-only
     */
    public static void fromF32(DType to, MemorySegment src, MemorySegment dst) {
        requireType(to);
        long n = elements(DType.F32, src);
        requireRoom(dst, n * Short.BYTES);
        switch (to) {
            case BF16 -> {
                if (VECTORIZED) {
                    VectorConvert.f32ToBf16(src, dst, n);
                } else {
                    f32ToBf16Scalar(src, dst, n);
                }
            }
            case F16 -> f32ToF16(src, dst, n);
            default -> throw new StloadException(ErrorKind.Unsupported, null,
                    "F32 narrows to BF16 or F16, not " + to);
        }
    }

    /**
     * Narrows floats to BF16 or F16 in a new array.
     *
     * @param to  BF16 or F16
     * @param src the values
     * @return two little-endian bytes per value
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if {@code to} is neither BF16 nor F16
     */
    public static byte[] fromF32(DType to, float[] src) {
        StloadException.requireNonNull(src, "floats to narrow are an array, not null");
        byte[] out = new byte[Math.multiplyExact(src.length, Short.BYTES)];
        fromF32(to, MemorySegment.ofArray(src), MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Two elements at a time, through small arrays: a bulk copy in, a loop from one array to another, which the
     * JIT vectorizes (it cannot prove two segments apart, so a loop between segments stays scalar), a bulk copy
     * out. Pairs, because the JIT vectorizes an int-to-long step but not a short-to-int one: an int holds two
     * BF16s, little-endian, and the long made of it the two F32s.
     */
    static void bf16ToF32Scalar(MemorySegment src, MemorySegment dst, long n) {
        long pairs = n / 2;
        int[] in = new int[(int) Math.min(pairs, CHUNK)];
        long[] out = new long[in.length];
        for (long done = 0; done < pairs; done += in.length) {
            int k = (int) Math.min(in.length, pairs - done);
            MemorySegment.copy(src, I32, done * 4, in, 0, k);
            for (int i = 0; i < k; i++) {
                long two = in[i];
                out[i] = (two & 0xffffL) << 16 | (two & 0xffff_0000L) << 32;
            }
            MemorySegment.copy(out, 0, dst, I64, done * 8, k);
        }
        if (n % 2 != 0) {
            dst.setAtIndex(F32, n - 1, bf16ToF32(src.getAtIndex(I16, n - 1)));
        }
    }

    private static void f16ToF32(MemorySegment src, MemorySegment dst, long n) {
        for (long i = 0; i < n; i++) {
            dst.setAtIndex(F32, i, F16[src.getAtIndex(I16, i) & 0xffff]);
        }
    }

    /**
     * From a mapping, looked up through small arrays: a bulk copy in, a loop of look-ups, a copy out (from other
     * memory the plain loop above runs at about 1.6 times the speed).
     */
    private static void f16ToF32Copying(MemorySegment src, MemorySegment dst, long n) {
        short[] in = new short[(int) Math.min(n, CHUNK)];
        float[] out = new float[in.length];
        for (long done = 0; done < n; done += in.length) {
            int k = (int) Math.min(in.length, n - done);
            MemorySegment.copy(src, I16, done * Short.BYTES, in, 0, k);
            for (int i = 0; i < k; i++) {
                out[i] = F16[in[i] & 0xffff];
            }
            MemorySegment.copy(out, 0, dst, F32, done * Float.BYTES, k);
        }
    }

    private static void bytesToF32(float[] table, MemorySegment src, MemorySegment dst, long n) {
        for (long i = 0; i < n; i++) {
            dst.setAtIndex(F32, i, table[src.get(ValueLayout.JAVA_BYTE, i) & 0xff]);
        }
    }

    /** As {@link #f16ToF32Copying}, one byte per element. */
    private static void bytesToF32Copying(float[] table, MemorySegment src, MemorySegment dst, long n) {
        byte[] in = new byte[(int) Math.min(n, CHUNK)];
        float[] out = new float[in.length];
        for (long done = 0; done < n; done += in.length) {
            int k = (int) Math.min(in.length, n - done);
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, done, in, 0, k);
            for (int i = 0; i < k; i++) {
                out[i] = table[in[i] & 0xff];
            }
            MemorySegment.copy(out, 0, dst, F32, done * Float.BYTES, k);
        }
    }

    /** As {@link #bf16ToF32Scalar(MemorySegment, MemorySegment, long)}: a long holds two F32s, an int the two BF16s. */
    static void f32ToBf16Scalar(MemorySegment src, MemorySegment dst, long n) {
        long pairs = n / 2;
        long[] in = new long[(int) Math.min(pairs, CHUNK)];
        int[] out = new int[in.length];
        for (long done = 0; done < pairs; done += in.length) {
            int k = (int) Math.min(in.length, pairs - done);
            MemorySegment.copy(src, I64, done * 8, in, 0, k);
            for (int i = 0; i < k; i++) {
                long two = in[i];
                out[i] = (int) (roundToBf16(two & 0xffff_ffffL) | roundToBf16(two >>> 32) << 16);
            }
            MemorySegment.copy(out, 0, dst, I32, done * 4, k);
        }
        if (n % 2 != 0) {
            dst.setAtIndex(I16, n - 1, f32ToBf16(src.getAtIndex(F32, n - 1)));
        }
    }

    /** {@link #f32ToBf16(float)} of the F32 bits in the low half of {@code bits}, branch-free, in the low 16 bits. */
    private static long roundToBf16(long bits) {
        long rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16 & 0xffff;
        long nan = (0x7f80_0000L - (bits & 0x7fff_ffffL)) >> 63; // all ones for a NaN, else zero
        return (rounded & ~nan) | (((bits >>> 16) | 0x0040) & nan);
    }

    private static void f32ToF16(MemorySegment src, MemorySegment dst, long n) {
        for (long i = 0; i < n; i++) {
            dst.setAtIndex(I16, i, Float.floatToFloat16(src.getAtIndex(F32, i)));
        }
    }

    /** S.EEEEE.MMMMMMMMMM, bias 15; a NaN's payload moves to the top of the F32 significand unchanged. */
    private static float decodeF16(int h) {
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f80_0000 | mantissa << 13);
        }
        float magnitude = exponent == 0 ? Math.scalb((float) mantissa, -24)
                : Math.scalb((float) (0x400 | mantissa), exponent - 25);
        return Float.intBitsToFloat(sign | Float.floatToRawIntBits(magnitude));
    }

    /** S.EEEE.MMM, bias 7: subnormals at exponent 0, S.1111.111 is NaN (made quiet), and there is no infinity. */
    private static float decodeE4M3(int b) {
        int sign = (b & 0x80) << 24;
        int exponent = (b >>> 3) & 0xf;
        int mantissa = b & 0x7;
        if (exponent == 0xf && mantissa == 0x7) {
            return Float.intBitsToFloat(sign | 0x7fc0_0000);
        }
        float magnitude = exponent == 0 ? Math.scalb((float) mantissa, -9)
                : Math.scalb((float) (8 | mantissa), exponent - 10);
        return Float.intBitsToFloat(sign | Float.floatToRawIntBits(magnitude));
    }

    private interface Decoder {
        float decode(int pattern);
    }

    private static float[] table(int patterns, Decoder decoder) {
        float[] t = new float[patterns];
        for (int p = 0; p < patterns; p++) {
            t[p] = decoder.decode(p);
        }
        return t;
    }

    private static long elements(DType type, MemorySegment src) {
        StloadException.requireNonNull(src, "the elements to convert are a segment, not null");
        if (!decodesToF32(type)) {
            throw notWidening(type);
        }
        long width = type.bits() / 8;
        if (src.byteSize() % width != 0) {
            throw StloadException.usage(src.byteSize() + " bytes are not a whole number of " + type + " elements");
        }
        return src.byteSize() / width;
    }

    private static void requireRoom(MemorySegment dst, long bytes) {
        StloadException.requireNonNull(dst, "converted elements go to a segment, not null");
        if (dst.byteSize() < bytes) {
            throw StloadException.usage("destination holds " + dst.byteSize() + " bytes; " + bytes + " needed");
        }
        if (dst.isReadOnly()) {
            throw StloadException.usage("destination is read-only");
        }
    }

    private static void requireType(DType type) {
        StloadException.requireNonNull(type, "a conversion names the elements' dtype, not null");
    }

    static StloadException notWidening(DType type) {
        return new StloadException(ErrorKind.Unsupported, null, type + " does not convert to F32 (F32, BF16, F16, "
                + "F8_E4M3, F8_E5M2 and the integer types do)");
    }
}
