package io.stload.plan;

import io.stload.StloadException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** An enum's constants as users type them: lower case, case-insensitive, blanks around them ignored. */
final class Choice {
    private Choice() {
    }

    /** The constant {@code value} names, else a usage error naming {@code what} and listing every choice. */
    static <E extends Enum<E>> E parse(Class<E> type, String value, String what) {
        for (E e : type.getEnumConstants()) {
            if (value != null && e.name().equalsIgnoreCase(value.trim())) {
                return e;
            }
        }
        throw StloadException.usage("unknown " + what + " '" + value + "'; expected one of " + names(type));
    }

    /** Every constant's name as {@link #parse} takes it, joined with {@code |}. */
    static String names(Class<? extends Enum<?>> type) {
        return Arrays.stream(type.getEnumConstants()).map(Choice::name).collect(Collectors.joining("|"));
    }

    /** The constant's name as users type it and reports print it. */
    static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
