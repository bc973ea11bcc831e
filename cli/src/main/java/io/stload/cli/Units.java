package io.stload.cli;

import java.math.BigInteger;

/** Numbers as JSON must print them. */
final class Units {
    private Units() {
    }

    /** An unsigned 64-bit value (shape dimensions may exceed Long.MAX_VALUE in a zero-sized tensor). */
    static BigInteger unsigned(long v) {
        return v >= 0 ? BigInteger.valueOf(v) : new BigInteger(Long.toUnsignedString(v));
    }
}
