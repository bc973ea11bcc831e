package io.stload.cli;

import io.stload.Printable;
import java.io.PrintWriter;
import java.io.Writer;
import java.util.function.Consumer;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.JsonParser;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.SerializableString;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.core.StreamWriteFeature;
import tools.jackson.core.io.CharacterEscapes;
import tools.jackson.core.io.SerializedString;
import tools.jackson.core.json.JsonFactory;

/** JSON for the CLI's {@code --json} modes and the server's requests and replies, through jackson-core's streaming API. */
final class Json {
    // The CLI owns stdout: closing a generator must not close it. A request that names a field twice is refused,
    // not read by its last value: a proxy or a log that reads the first would see another request than the server.
    // Names and metadata come from the files: beyond what JSON escapes (C0), so are C1 controls (U+009B is a one-char
    // CSI), bidirectional overrides and line separators, as text output escapes them, so `--json` on a terminal
    // shows what the file holds.
    private static final JsonFactory FACTORY = JsonFactory.builder().disable(StreamWriteFeature.AUTO_CLOSE_TARGET)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).characterEscapes(new UnsafeEscapes()).build();

    private static final class UnsafeEscapes extends CharacterEscapes {
        private final int[] ascii = standardAsciiEscapesForJSON();

        {
            ascii[0x7F] = ESCAPE_CUSTOM; // DEL: the one ASCII character JSON leaves as it is that text output escapes
        }

        @Override
        public int[] getEscapeCodesForAscii() {
            return ascii;
        }

        @Override
        public SerializableString getEscapeSequence(int c) {
            return Printable.unsafe(c) ? new SerializedString(String.format("\\u%04x", c)) : null;
        }
    }

    private Json() {
    }

    static JsonGenerator generator(Writer out) {
        return FACTORY.createGenerator(ObjectWriteContext.empty(), out);
    }

    /** Prints the JSON value {@code value} writes on a line of its own: a command's {@code --json} output. */
    static void print(PrintWriter out, Consumer<JsonGenerator> value) {
        try (JsonGenerator g = generator(out)) {
            value.accept(g);
        }
        out.println();
    }

    static JsonParser parser(byte[] json) {
        return FACTORY.createParser(ObjectReadContext.empty(), json);
    }
}
