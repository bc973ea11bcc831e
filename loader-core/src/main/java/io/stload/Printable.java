package io.stload;

/**
 * Text from a file (a tensor name, a metadata key, a path) made safe to print on one line: control characters
 * and bidirectional overrides are written as escapes (a newline as {@code \n}, ESC as {@code \x1b}), so a name
 * cannot start a new line that forges an error or a log line, move the cursor, or recolour a terminal.
 * {@link StloadException#getMessage()} is written this way; an engine logging names of its own can use it too.
 * JSON output needs none of this: its writer escapes on its own.
 */
public final class Printable {
    private Printable() {
    }

    /**
     * The text made printable.
     *
     * @param s the text, or null
     * @return the text with every control character, bidirectional override and line separator escaped; null for
     *         null
     */
    public static String escape(String s) {
        if (s == null || s.chars().noneMatch(Printable::unsafe)) {
            return s;
        }
        StringBuilder sb = new StringBuilder(s.length() + 16);
        s.chars().forEach(c -> {
            switch (c) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (!unsafe(c)) {
                        sb.append((char) c);
                    } else if (c < 0x100) {
                        sb.append(String.format("\\x%02x", c));
                    } else {
                        sb.append(String.format("\\u%04x", c));
                    }
                }
            }
        });
        return sb.toString();
    }

    /**
     * The start of a caller's text, as an error or a reply quotes it: a slice of a megabyte, or a number of a
     * million digits, must not make a megabyte line.
     *
     * @param s        the text
     * @param maxChars how much of it to keep, at least 1
     * @return the text, or its first {@code maxChars} characters (not half a surrogate pair) followed by
     *         {@code ... (N characters)}
     * @throws StloadException {@link ErrorKind#Usage} if {@code s} is null or {@code maxChars} is less than 1
     */
    public static String start(String s, int maxChars) {
        StloadException.requireNonNull(s, "the text to quote, not null");
        if (maxChars < 1) {
            throw StloadException.usage("a quote keeps at least 1 character, not " + maxChars);
        }
        if (s.length() <= maxChars) {
            return s;
        }
        int end = Character.isHighSurrogate(s.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
        return s.substring(0, end) + "... (" + s.length() + " characters)";
    }

    /**
     * Whether {@link #escape} escapes a character: a control character (C0, DEL, C1), a bidirectional override or a
     * line or paragraph separator, any of which can make a terminal show other text than the name holds.
     *
     * @param c a character (a UTF-16 unit or a code point)
     * @return true where it is escaped
     */
    public static boolean unsafe(int c) {
        return Character.isISOControl(c) // C0, DEL, C1 (ESC starts ANSI sequences; U+009B is a one-char CSI)
                || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) // bidirectional overrides
                || c == 0x2028 || c == 0x2029; // line and paragraph separators
    }
}
