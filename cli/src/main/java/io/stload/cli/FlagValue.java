package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.plan.Sizes;
import java.math.BigDecimal;
import java.util.function.Function;

/**
 * A flag's value checked before any library sees it: text turned into a value by one of the library's plain
 * parsers, numbers held to their range. A value outside what the flag takes is a usage error naming the flag
 * (exit 2, one line), whatever the library would have thrown for it.
 */
final class FlagValue {
    private FlagValue() {
    }

    /**
     * {@code parser}'s value for {@code text}; a refusal (an {@link IllegalArgumentException} or a usage error)
     * becomes one usage line naming the flag, e.g. {@code --max-gap: not a size: 'lots' (examples: ...)}.
     */
    static <T> T parse(String flag, String text, Function<String, T> parser) {
        try {
            return parser.apply(text);
        } catch (IllegalArgumentException e) {
            throw usage(flag + ": " + e.getMessage());
        } catch (StloadException e) {
            if (e.kind() != ErrorKind.Usage) {
                throw e;
            }
            throw usage(flag + ": " + e.detail());
        }
    }

    /** A size ({@code 64MiB}, ...) of at least {@code least} bytes. */
    static long size(String flag, String text, long least) {
        return size(flag, text, least, Long.MAX_VALUE);
    }

    /** A size ({@code 64MiB}, ...) of {@code least} to {@code most} bytes. */
    static long size(String flag, String text, long least, long most) {
        long bytes = parse(flag, text, Sizes::parse);
        if (bytes < least) {
            throw usage(flag + ": must be at least " + least + " bytes, not " + text);
        }
        if (bytes > most) {
            throw usage(flag + ": must be at most " + Sizes.human(most) + ", not " + text);
        }
        return bytes;
    }

    /** {@code value}, when it lies in {@code least..most}. */
    static int inRange(String flag, int value, int least, int most) {
        if (value < least || value > most) {
            throw usage(flag + ": must be in " + least + ".." + most + ", not " + value);
        }
        return value;
    }

    /** {@code value}, when it lies in {@code least..most} (never NaN). */
    static double inRange(String flag, double value, double least, double most) {
        if (!(value >= least && value <= most)) {
            throw usage(flag + ": must be in " + plain(least) + ".." + plain(most) + ", not " + plain(value));
        }
        return value;
    }

    /** {@code value}, when it is a finite number of at least {@code least} (never NaN). */
    static double atLeast(String flag, double value, double least) {
        if (!(value >= least && Double.isFinite(value))) {
            throw usage(flag + ": must be a number of at least " + plain(least) + ", not " + plain(value));
        }
        return value;
    }

    /** As the user would write it: {@code 0.5}, {@code 30}, not {@code 30.0} or {@code 3.0E2}. */
    private static String plain(double value) {
        return Double.isFinite(value) ? BigDecimal.valueOf(value).stripTrailingZeros().toPlainString()
                : String.valueOf(value);
    }

    static StloadException usage(String message) {
        return new StloadException(ErrorKind.Usage, null, message);
    }
}
