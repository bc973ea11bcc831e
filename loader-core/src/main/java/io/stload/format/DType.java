package io.stload.format;

/** The 22 element types of the safetensors format, with their width in bits (sub-byte types included). */
public enum DType {
    BOOL(8), F4(4), F6_E2M3(6), F6_E3M2(6), U8(8), I8(8),
    F8_E5M2(8), F8_E4M3(8), F8_E8M0(8), F8_E4M3FNUZ(8), F8_E5M2FNUZ(8),
    I16(16), U16(16), F16(16), BF16(16),
    I32(32), U32(32), F32(32), C64(64), F64(64), I64(64), U64(64);

    private final int bits;

    DType(int bits) {
        this.bits = bits;
    }

    public int bits() {
        return bits;
    }

    /** True for types narrower than a byte, whose tensors cannot be cut at arbitrary elements. */
    public boolean isSubByte() {
        return bits < 8;
    }

    /** The dtype spelled exactly as in a header (case-sensitive, like the reference), or null. */
    public static DType fromHeaderName(String name) {
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
