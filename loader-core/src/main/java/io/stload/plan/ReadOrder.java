package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.Locale;

/**
 * The order in which the consumer asks for tensors. {@code SHUFFLED} is a fixed-seed random order, the way a
 * model's parameter registration order differs from file order: the case that makes lazy mmap fall apart
 * on a cold disk.
 */
public enum ReadOrder {
    FILE, SHUFFLED;

    public static ReadOrder parse(String value) {
        try {
            return valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new StloadException(ErrorKind.Usage, null, "unknown order '" + value + "'; expected file|shuffled");
        }
    }
}
