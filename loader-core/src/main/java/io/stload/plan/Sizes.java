package io.stload.plan;

import io.stload.StloadException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Byte counts in binary units: printed in reasons and reports, parsed from a user's text. */
public final class Sizes {
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGTPE]?)(i?)(B?)", Pattern.CASE_INSENSITIVE);

    private Sizes() {
    }

    /**
     * The byte count a user's text names: {@code 123}, {@code 64KiB}, {@code 8MiB}, {@code 1.5GiB} (binary) or
     * {@code 2GB} (decimal), case-insensitively, with or without a blank before the unit. A unit letter alone
     * ({@code 64M}) is refused as ambiguous, and so is a fraction of a byte.
     *
     * @param text the size
     * @return the number of bytes, a fraction of a unit rounded down to a whole byte
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} for text that is not a size, a unit letter
     *                                  alone, or a size past {@code Long.MAX_VALUE}, with a message naming the text
     *                                  and giving examples; a flag parser can show it as it is
     */
    public static long parse(String text) {
        StloadException.requireNonNull(text, "not a size: null");
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            throw StloadException.usage("not a size: '" + text + "' (examples: 4096, 64MiB, 2GiB, 1.5GB)");
        }
        if (!m.group(2).isEmpty() && m.group(3).isEmpty() && m.group(4).isEmpty()) {
            // 64M is 64 MiB to the JVM, dd and fio, and 64 MB to others: the reader's guess is not taken.
            String n = m.group(1) + m.group(2).toUpperCase(Locale.ROOT);
            throw StloadException.usage("ambiguous size: '" + text + "'; write " + n + "iB (binary) or " + n
                    + "B (decimal)");
        }
        if (m.group(2).isEmpty() && m.group(1).contains(".")) {
            throw StloadException.usage("not a size: '" + text + "' (bytes are whole; examples: 4096, 1.5KiB)");
        }
        int power = "KMGTPE".indexOf(Character.toUpperCase(m.group(2).isEmpty() ? ' ' : m.group(2).charAt(0))) + 1;
        BigDecimal unit = BigDecimal.valueOf(m.group(3).isEmpty() && power > 0 ? 1000 : 1024).pow(power);
        try {
            // Exact: a double would round whole numbers past 2^53, and refuse Long.MAX_VALUE itself.
            return new BigDecimal(m.group(1)).multiply(unit).setScale(0, RoundingMode.DOWN).longValueExact();
        } catch (ArithmeticException e) {
            throw StloadException.usage("size too large: '" + text + "'");
        }
    }

    /**
     * A byte count as a person reads it: {@code 512 B}, {@code 1.5 GiB}.
     *
     * @param n bytes
     * @return {@code n} in the largest binary unit not above it, with one decimal
     */
    public static String human(long n) {
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
}
