package io.stload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class PrintableTest {
    @Test
    void controlsOverridesAndSeparatorsAreEscapedOnOneLine() {
        assertEquals("a\\nb\\r\\tc\\x1b[31m\\x7f\\x9b\\u202e\\u2028d", Printable.escape("a\nb\r\tc\u001b[31m\u007f\u009b\u202e\u2028d"));
        String plain = "model.layers.0.weight é 🙂";
        assertSame(plain, Printable.escape(plain));
    }

    @Test
    void aLongTextIsQuotedByItsStartAndLength() {
        assertEquals("abc", Printable.start("abc", 3));
        assertEquals("ab... (3 characters)", Printable.start("abc", 2));
        assertEquals("a... (4 characters)", Printable.start("a\ud83d\ude42b", 2), "never half a surrogate pair");
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> Printable.start("abc", 0)).kind());
    }
}
