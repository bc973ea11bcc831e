package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;

/**
 * The 22 element types of the safetensors format, with their width in bits (sub-byte types included), and
 * {@link #UNKNOWN}, which stands for a dtype the format does not define, in a checkpoint opened to let such tensors
 * through as raw bytes.
 */
public enum DType {
    /** Boolean, one byte per element. */
    BOOL(8),
    /** 4-bit float (E2M1), two elements per byte. */
    F4(4),
    /** 6-bit float with 2 exponent and 3 mantissa bits. */
    F6_E2M3(6),
    /** 6-bit float with 3 exponent and 2 mantissa bits. */
    F6_E3M2(6),
    /** Unsigned 8-bit integer. */
    U8(8),
    /** Signed 8-bit integer. */
    I8(8),
    /** 8-bit float with 5 exponent and 2 mantissa bits. */
    F8_E5M2(8),
    /** 8-bit float with 4 exponent and 3 mantissa bits. */
    F8_E4M3(8),
    /** 8-bit exponent-only scale (E8M0). */
    F8_E8M0(8),
    /** 8-bit float E4M3, finite, no negative zero. */
    F8_E4M3FNUZ(8),
    /** 8-bit float E5M2, finite, no negative zero. */
    F8_E5M2FNUZ(8),
    /** Signed 16-bit integer. */
    I16(16),
    /** Unsigned 16-bit integer. */
    U16(16),
    /** IEEE 754 half precision. */
    F16(16),
    /** bfloat16: the upper half of an F32. */
    BF16(16),
    /** Signed 32-bit integer. */
    I32(32),
    /** Unsigned 32-bit integer. */
    U32(32),
    /** IEEE 754 single precision. */
    F32(32),
    /** Complex of two F32 (real, imaginary). */
    C64(64),
    /** IEEE 754 double precision. */
    F64(64),
    /** Signed 64-bit integer. */
    I64(64),
    /** Unsigned 64-bit integer. */
    U64(64),
    /**
     * A dtype the format does not define (e.g. a quantized type of one engine's own, such as {@code "Q4"}): never
     * met unless a checkpoint is opened to let such tensors through, whose bytes are then read whole and raw, and
     * whose header spelling {@link TensorInfo#dtypeName()} keeps. Its width is unknown: {@link #bits()} is 0.
     */
    UNKNOWN(0);

    private final int bits;

    DType(int bits) {
        this.bits = bits;
    }

    /** {@return the width of one element in bits: 4, 6, 8, 16, 32 or 64; 0 for {@link #UNKNOWN}} */
    public int bits() {
        return bits;
    }

    /**
     * The width of one element in bytes, for the types of whole bytes.
     *
     * @return 1, 2, 4 or 8
     * @throws StloadException {@link ErrorKind#Unsupported} for the sub-byte types, whose elements share bytes, and
     *                         for {@link #UNKNOWN}
     */
    public int byteSize() {
        if (bits < 8) {
            throw new StloadException(ErrorKind.Unsupported, null, this == UNKNOWN
                    ? "a dtype the format does not define has no known element size"
                    : this + " elements are " + bits + " bits wide: they share bytes");
        }
        return bits / 8;
    }

    /**
     * Whether elements are narrower than a byte, so a tensor cannot be cut at arbitrary elements.
     *
     * @return true for {@link #F4}, {@link #F6_E2M3} and {@link #F6_E3M2}
     */
    public boolean isSubByte() {
        return bits > 0 && bits < 8;
    }

    /**
     * Whether this is one of the format's types, with a known width.
     *
     * @return false for {@link #UNKNOWN} only
     */
    public boolean isKnown() {
        return this != UNKNOWN;
    }

    /**
     * Looks a dtype up by its header spelling, case-sensitively like the reference implementation.
     *
     * @param name the {@code dtype} string of a header entry
     * @return the dtype, or null when the format defines no dtype of that name (which a header then holds as
     *         {@link #UNKNOWN} only when opened to let such tensors through)
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} is null
     */
    public static DType fromHeaderName(String name) {
        StloadException.requireNonNull(name, "a dtype is looked up by its header spelling, not null");
        return switch (name) {
            case "BOOL" -> BOOL;
            case "F4" -> F4;
            case "F6_E2M3" -> F6_E2M3;
            case "F6_E3M2" -> F6_E3M2;
            case "U8" -> U8;
            case "I8" -> I8;
            case "F8_E5M2" -> F8_E5M2;
            case "F8_E4M3" -> F8_E4M3;
            case "F8_E8M0" -> F8_E8M0;
            case "F8_E4M3FNUZ" -> F8_E4M3FNUZ;
            case "F8_E5M2FNUZ" -> F8_E5M2FNUZ;
            case "I16" -> I16;
            case "U16" -> U16;
            case "F16" -> F16;
            case "BF16" -> BF16;
            case "I32" -> I32;
            case "U32" -> U32;
            case "F32" -> F32;
            case "C64" -> C64;
            case "F64" -> F64;
            case "I64" -> I64;
            case "U64" -> U64;
            default -> null;
        };
    }
}
