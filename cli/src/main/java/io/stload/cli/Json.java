package io.stload.cli;

import java.io.PrintWriter;
import java.io.Writer;
import java.util.function.Consumer;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.JsonParser;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.core.StreamWriteFeature;
import tools.jackson.core.json.JsonFactory;

/** JSON for the CLI's {@code --json} modes and the server's requests and replies, through jackson-core's streaming API. */
final class Json {
    // The CLI owns stdout: closing a generator must not close it. A request that names a field twice is refused,
    // not read by its last value: a proxy or a log that reads the first would see another request than the server.
    private static final JsonFactory FACTORY = JsonFactory.builder().disable(StreamWriteFeature.AUTO_CLOSE_TARGET)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

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
