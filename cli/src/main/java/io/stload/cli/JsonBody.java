package io.stload.cli;

import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;

/**
 * A request body that is one JSON object, read field by field; whatever is not such an object, or a field of the
 * wrong type, is a {@link BadRequest} naming the field.
 */
final class JsonBody {
    private JsonBody() {
    }

    /** Takes one field of the object: the parser stands on its value. */
    @FunctionalInterface
    interface Fields {
        void field(JsonParser p, String name, JsonToken value);
    }

    /** Hands every field of the object in {@code body} to {@code fields}, in order. */
    static void read(byte[] body, Fields fields) {
        try (JsonParser p = Json.parser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new BadRequest("body must be a JSON object");
            }
            String field;
            while ((field = p.nextName()) != null) {
                fields.field(p, field, p.nextToken());
            }
            if (p.nextToken() != null) {
                throw new BadRequest("trailing characters after the JSON object");
            }
        } catch (JacksonException e) {
            throw new BadRequest("invalid JSON: " + e.getOriginalMessage());
        }
    }

    static String string(JsonParser p, JsonToken value, String field) {
        if (value != JsonToken.VALUE_STRING) {
            throw new BadRequest("`" + field + "` must be a string");
        }
        return p.getString();
    }

    static boolean bool(JsonToken value, String field) {
        if (!value.isBoolean()) {
            throw new BadRequest("`" + field + "` must be true or false");
        }
        return value == JsonToken.VALUE_TRUE;
    }

    static long number(JsonParser p, JsonToken value, String field, long min, long max) {
        if (value != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
            throw new BadRequest("`" + field + "` must be a whole number from " + min + " to " + max);
        }
        long n = p.getLongValue();
        if (n < min || n > max) {
            throw new BadRequest("`" + field + "` must be a whole number from " + min + " to " + max);
        }
        return n;
    }
}
