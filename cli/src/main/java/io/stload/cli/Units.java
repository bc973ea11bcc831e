package io.stload.cli;

import java.math.BigInteger;
import java.util.Locale;

/** Human-readable quantities for tables and reports. */
final class Units {
    private Units() {
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** An unsigned 64-bit value (shape dimensions may exceed Long.MAX_VALUE in a zero-sized tensor). */
    static BigInteger unsigned(long v) {
        return v >= 0 ? BigInteger.valueOf(v) : new BigInteger(Long.toUnsignedString(v));
    }
}
