package io.stload.format;

import static io.stload.format.RawFile.assertAccepted;
import static io.stload.format.RawFile.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.stload.ErrorKind;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HexFormat;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** Headers must be UTF-8 exactly as Rust's {@code str::from_utf8} defines it, checked before any JSON. */
class HeaderUtf8Test {
    @TempDir
    Path dir;

    /** Hex bytes placed inside a tensor name, so only the encoding is wrong, never the JSON. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
            "c0af",       // overlong '/'
            "e080af",     // overlong, three bytes
            "f08080af",   // overlong, four bytes
            "eda080",     // surrogate U+D800
            "edbfbf",     // surrogate U+DFFF
            "f4908080",   // above U+10FFFF
            "f5808080",   // lead byte that never occurs
            "ff",
            "80",         // continuation without a lead
            "e282",       // truncated three-byte sequence
            "c3",         // truncated two-byte sequence
            "e228a1",     // bad second byte
            "e282e2",     // bad third byte
    })
    void invalidSequencesAreInvalidHeader(String hex) {
        assertRejected(ErrorKind.InvalidHeader, nameHolding(HexFormat.of().parseHex(hex)), dir);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"é", "層", "🙂", "\u007f", "\u0080", "\u07ff", "\u0800", "\uffff", "\ud83f\udfff", "\udbff\udfff"})
    void everyEncodedLengthUpToTheLastCodePointIsAccepted(String name) {
        byte[] file = nameHolding(name.getBytes(StandardCharsets.UTF_8));
        assertNotNull(assertAccepted(file, dir).tensor(name));
    }

    /** The ASCII fast path reads eight bytes at a time; a bad byte at any position after it must be seen. */
    @ParameterizedTest(name = "at {0}")
    @ValueSource(ints = {0, 1, 7, 8, 9, 15, 16, 23})
    void invalidByteAfterAsciiRunIsFound(int at) {
        byte[] b = "abcdefghijklmnopqrstuvwxyz".getBytes(StandardCharsets.US_ASCII);
        b[at] = (byte) 0xFF;
        assertEquals(at, Utf8.firstInvalid(b, 0, b.length));
        assertEquals(-1, Utf8.firstInvalid(b, at + 1, b.length));
    }

    private static byte[] nameHolding(byte[] nameBytes) {
        byte[] header = RawFile.concat(RawFile.concat("{\"".getBytes(StandardCharsets.US_ASCII), nameBytes),
                "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}".getBytes(StandardCharsets.US_ASCII));
        return RawFile.of(header, new byte[1]);
    }
}
