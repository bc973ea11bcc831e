package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Byte counts in binary units: printed in reasons and reports, parsed from flags. */
public final class Sizes {
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([KMGTP]?)(i?)B?", Pattern.CASE_INSENSITIVE);

    private Sizes() {
    }

    /**
     * Parses {@code 123}, {@code 64KiB}, {@code 8MiB}, {@code 1.5GiB} (binary) or {@code 2GB} (decimal).
     * Anything else is a usage error.
     */
    public static long parse(String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            throw new StloadException(ErrorKind.Usage, null, "not a size: '" + text + "' (examples: 4096, 64MiB, 2GiB, 1.5GB)");
        }
        int power = "KMGTP".indexOf(Character.toUpperCase(m.group(2).isEmpty() ? ' ' : m.group(2).charAt(0))) + 1;
        double unit = Math.pow(m.group(3).isEmpty() && power > 0 ? 1000 : 1024, power);
        double value = Double.parseDouble(m.group(1)) * unit;
        if (value >= Long.MAX_VALUE) {
            throw new StloadException(ErrorKind.Usage, null, "size too large: '" + text + "'");
        }
        return (long) value;
    }

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
