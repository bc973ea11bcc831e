package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/** Reads a reply or a --json output (one JSON object) into maps, lists, strings, longs, doubles and booleans. */
final class JsonReplies {
    private JsonReplies() {
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> parse(String text) {
        try (JsonParser p = new JsonFactory().createParser(ObjectReadContext.empty(), text)) {
            assertEquals(JsonToken.START_OBJECT, p.nextToken(), text);
            Object value = read(p);
            assertNull(p.nextToken(), "exactly one JSON value");
            return (Map<String, Object>) value;
        }
    }

    private static Object read(JsonParser p) {
        return switch (p.currentToken()) {
            case START_OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                String name;
                while ((name = p.nextName()) != null) {
                    p.nextToken();
                    m.put(name, read(p));
                }
                yield m;
            }
            case START_ARRAY -> {
                List<Object> l = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    l.add(read(p));
                }
                yield l;
            }
            case VALUE_STRING -> p.getString();
            case VALUE_NUMBER_INT -> p.getLongValue();
            case VALUE_NUMBER_FLOAT -> p.getDoubleValue();
            case VALUE_TRUE, VALUE_FALSE -> p.getBooleanValue();
            case VALUE_NULL -> null;
            default -> throw new AssertionError("unexpected " + p.currentToken());
        };
    }
}
