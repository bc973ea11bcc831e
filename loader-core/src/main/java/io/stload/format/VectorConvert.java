package io.stload.format;

import static io.stload.format.LittleEndian.F32;
import static io.stload.format.LittleEndian.I16;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * BF16's bulk loops on the Vector API: widening is a sign-extending short-to-int conversion and a shift, which
 * the JIT cannot find in a scalar loop between segments, and which runs straight from segment to segment with no
 * staging arrays. {@link Convert} loads it only once it has found the module in the runtime, so an embedder
 * without {@code --add-modules jdk.incubator.vector} never touches it.
 */
final class VectorConvert {
    private static final VectorSpecies<Integer> INTS = IntVector.SPECIES_PREFERRED;
    /** As many floats as {@link #INTS} has ints. */
    private static final VectorSpecies<Float> FLOATS = VectorSpecies.of(float.class, INTS.vectorShape());
    /** As many shorts as {@link #INTS} has ints, in half the bits. */
    private static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(INTS.vectorBitSize() / 2));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** BF16s copied out of a mapping at a time: 2 KiB, a step that stays in the L1 cache. */
    private static final int COPY_STEP = 1024;
    /** Each thread's array for those steps: allocating and zeroing one per call took as long as the decode itself. */
    private static final ThreadLocal<short[]> COPY = ThreadLocal.withInitial(() -> new short[COPY_STEP]);

    private VectorConvert() {
    }

    /** Vectors of 256 bits or more: narrower ones gain nothing over the staged scalar loop. */
    static boolean usable() {
        return INTS.vectorBitSize() >= 256;
    }

    /**
     * The first {@code n} BF16s of {@code src} as F32s in {@code dst}. A {@code float[]} behind {@code dst} is written
     * as an array: the Vector API compiles its stores into native memory and into arrays, but not into a segment over
     * an array of floats, which took forty times as long.
     */
    static void bf16ToF32(MemorySegment src, MemorySegment dst, long n) {
        if (dst.heapBase().orElse(null) instanceof float[] floats && dst.address() % Float.BYTES == 0) {
            bf16ToF32(src, floats, (int) (dst.address() / Float.BYTES), n);
            return;
        }
        long bound = n - n % INTS.length();
        for (long i = 0; i < bound; i += INTS.length()) {
            ShortVector bf16 = ShortVector.fromMemorySegment(SHORTS, src, i * 2, LE);
            IntVector f32 = (IntVector) bf16.convertShape(VectorOperators.S2I, INTS, 0);
            f32.lanewise(VectorOperators.LSHL, 16).intoMemorySegment(dst, i * 4, LE);
        }
        Convert.bf16ToF32Scalar(src.asSlice(bound * 2), dst.asSlice(bound * 4), n - bound);
    }

    /** {@link #bf16ToF32(MemorySegment, MemorySegment, long)} into {@code dst} from index {@code at}. */
    private static void bf16ToF32(MemorySegment src, float[] dst, int at, long n) {
        int bound = (int) (n - n % INTS.length());
        for (int i = 0; i < bound; i += INTS.length()) {
            ShortVector bf16 = ShortVector.fromMemorySegment(SHORTS, src, i * 2L, LE);
            IntVector f32 = (IntVector) bf16.convertShape(VectorOperators.S2I, INTS, 0);
            f32.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, at + i);
        }
        Convert.bf16ToF32Scalar(src.asSlice(bound * 2L), MemorySegment.ofArray(dst).asSlice((at + (long) bound) * 4),
                n - bound);
    }

    /**
     * {@link #bf16ToF32(MemorySegment, MemorySegment, long)} from a file's mapping: each step's BF16s are first copied
     * into an array, the one read of {@code src} the JVM recovers from when the file was truncated under the mapping
     * (a vector load of a lost page crashes it), and converted from there. Steps stay in the L1 cache.
     */
    static void bf16ToF32Copying(MemorySegment src, MemorySegment dst, long n) {
        float[] floats = dst.heapBase().orElse(null) instanceof float[] f && dst.address() % Float.BYTES == 0 ? f : null;
        int at = floats == null ? 0 : (int) (dst.address() / Float.BYTES);
        short[] in = COPY.get();
        for (long done = 0; done < n; done += in.length) {
            int k = (int) Math.min(in.length, n - done);
            MemorySegment.copy(src, I16, done * Short.BYTES, in, 0, k);
            int bound = k - k % INTS.length();
            for (int i = 0; i < bound; i += INTS.length()) {
                IntVector f32 = ((IntVector) ShortVector.fromArray(SHORTS, in, i)
                        .convertShape(VectorOperators.S2I, INTS, 0)).lanewise(VectorOperators.LSHL, 16);
                if (floats != null) {
                    f32.reinterpretAsFloats().intoArray(floats, at + (int) done + i);
                } else {
                    f32.intoMemorySegment(dst, (done + i) * Float.BYTES, LE);
                }
            }
            for (int i = bound; i < k; i++) {
                dst.setAtIndex(F32, done + i, Convert.bf16ToF32(in[i]));
            }
        }
    }

    /**
     * The first {@code n} F32s of {@code src} as BF16s in {@code dst}, as {@link Convert#f32ToBf16(float)}. A
     * {@code float[]} behind {@code src} is read as an array, for the reason {@link #bf16ToF32} writes one as such.
     */
    static void f32ToBf16(MemorySegment src, MemorySegment dst, long n) {
        boolean floats = src.heapBase().orElse(null) instanceof float[] && src.address() % Float.BYTES == 0;
        float[] array = floats ? (float[]) src.heapBase().orElseThrow() : null;
        int at = floats ? (int) (src.address() / Float.BYTES) : 0;
        long bound = n - n % INTS.length();
        for (long i = 0; i < bound; i += INTS.length()) {
            IntVector bits = floats ? FloatVector.fromArray(FLOATS, array, at + (int) i).reinterpretAsInts()
                    : IntVector.fromMemorySegment(INTS, src, i * 4, LE);
            IntVector odd = bits.lanewise(VectorOperators.LSHR, 16).and(1);
            IntVector rounded = bits.add(0x7fff).add(odd).lanewise(VectorOperators.LSHR, 16);
            VectorMask<Integer> nan = bits.and(0x7fff_ffff).compare(VectorOperators.GT, 0x7f80_0000);
            IntVector quiet = bits.lanewise(VectorOperators.LSHR, 16).or(0x0040);
            ShortVector bf16 = (ShortVector) rounded.blend(quiet, nan).convertShape(VectorOperators.I2S, SHORTS, 0);
            bf16.intoMemorySegment(dst, i * 2, LE);
        }
        Convert.f32ToBf16Scalar(src.asSlice(bound * 4), dst.asSlice(bound * 2), n - bound);
    }
}
