package io.stload.benchdata;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes as people write them: {@code 123} (bytes), {@code 64KiB}, {@code 256MiB}, {@code 4GiB}, {@code 1.5GB}.
 * Binary units (KiB, MiB, GiB, TiB) are powers of 1024 and decimal ones (KB, MB, GB, TB) powers of 1000,
 * as disk and checkpoint sizes are quoted in both; units ignore case and may follow a space.
 */
public final class ByteSize {
    private static final Pattern SIZE = Pattern.compile("\\s*(\\d+(?:\\.\\d+)?)\\s*([a-zA-Z]*)\\s*");

    private ByteSize() {
    }

    /** The number of bytes {@code text} denotes, rounded to the nearest byte. */
    public static long parse(String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a size: '" + text + "' (expected e.g. 123, 256MiB, 1.5GB)");
        }
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(unit(m.group(2), text)));
        try {
            return bytes.setScale(0, RoundingMode.HALF_UP).longValueExact();
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("size too large: '" + text + "'", e);
        }
    }

    private static long unit(String unit, String text) {
        return switch (unit.toUpperCase(Locale.ROOT)) {
            case "", "B" -> 1L;
            case "KB" -> 1_000L;
            case "MB" -> 1_000_000L;
            case "GB" -> 1_000_000_000L;
            case "TB" -> 1_000_000_000_000L;
            case "KIB" -> 1L << 10;
            case "MIB" -> 1L << 20;
            case "GIB" -> 1L << 30;
            case "TIB" -> 1L << 40;
            default -> throw new IllegalArgumentException("unknown unit '" + unit + "' in '" + text
                    + "' (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
        };
    }
}
