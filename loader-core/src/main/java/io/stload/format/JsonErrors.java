package io.stload.format;

import tools.jackson.core.JacksonException;
import tools.jackson.core.TokenStreamLocation;

/** A JSON parse error of a header or an index in a user's terms: the byte of the file, and no parser API names. */
final class JsonErrors {
    private JsonErrors() {
    }

    /**
     * The byte of {@code utf8} where the parser stopped, or -1 when it does not say (a limit's violation). Jackson
     * counts its position over bytes in UTF-16 units, which is the byte index only as far as the text is ASCII.
     */
    static long byteOffset(JacksonException e, byte[] utf8) {
        TokenStreamLocation at = e.getLocation();
        if (at == null) {
            return -1;
        }
        if (at.getByteOffset() >= 0) {
            return at.getByteOffset();
        }
        long units = at.getCharOffset();
        if (units < 0) {
            return -1;
        }
        int i = 0;
        for (long u = 0; u < units && i < utf8.length; u++) {
            int lead = utf8[i] & 0xFF;
            int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (length == 4) {
                u++; // a surrogate pair: two units
            }
            i = Math.min(utf8.length, i + length);
        }
        return i;
    }

    /** Why it stopped, without the parser's pointer to its own settings ("from `StreamReadConstraints...`"). */
    static String reason(JacksonException e) {
        return e.getOriginalMessage().replaceAll(", from `StreamReadConstraints\\.\\w+\\(\\)`", "");
    }
}
