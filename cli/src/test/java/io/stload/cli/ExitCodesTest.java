package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.ErrorKind;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The exit code of each category of error: scripts branch on these, so they never change meaning. */
class ExitCodesTest {
    @Test
    void eachCategoryHasItsDocumentedCode() {
        Map<ErrorKind.Category, Integer> codes = new EnumMap<>(ErrorKind.Category.class);
        for (ErrorKind kind : ErrorKind.values()) {
            codes.put(kind.category, ExitCodes.of(kind));
        }
        assertEquals(Map.of(ErrorKind.Category.USAGE, 2, ErrorKind.Category.FORMAT, 3, ErrorKind.Category.IO, 4,
                ErrorKind.Category.TIMEOUT, 5, ErrorKind.Category.CALLBACK, 70, ErrorKind.Category.INTERNAL, 70), codes);
    }
}
