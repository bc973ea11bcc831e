package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.function.Function;

/** A flag's text turned into a value by one of the library's plain parsers; a value it refuses is a usage error. */
final class FlagValue {
    private FlagValue() {
    }

    /**
     * {@code parser}'s value for {@code text}; its {@link IllegalArgumentException} becomes one usage line naming
     * the flag, e.g. {@code --max-gap: not a size: 'lots' (examples: ...)}.
     */
    static <T> T parse(String flag, String text, Function<String, T> parser) {
        try {
            return parser.apply(text);
        } catch (IllegalArgumentException e) {
            throw new StloadException(ErrorKind.Usage, null, flag + ": " + e.getMessage());
        }
    }
}
