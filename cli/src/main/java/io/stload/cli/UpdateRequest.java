package io.stload.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;

/**
 * The body of {@code POST /update_weights_from_disk}: {@code {"path": "...", "quiesce": true|false}}.
 * Other fields are ignored, so clients written for other engines' endpoints can send theirs.
 */
record UpdateRequest(Path path, boolean quiesce) {
    static UpdateRequest parse(byte[] body) {
        String path = null;
        boolean quiesce = false;
        try (JsonParser p = Json.parser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new BadRequest("body must be a JSON object");
            }
            String field;
            while ((field = p.nextName()) != null) {
                JsonToken value = p.nextToken();
                switch (field) {
                    case "path" -> {
                        if (value != JsonToken.VALUE_STRING) {
                            throw new BadRequest("`path` must be a string");
                        }
                        path = p.getString();
                    }
                    case "quiesce" -> {
                        if (!value.isBoolean()) {
                            throw new BadRequest("`quiesce` must be true or false");
                        }
                        quiesce = value == JsonToken.VALUE_TRUE;
                    }
                    default -> p.skipChildren();
                }
            }
            if (p.nextToken() != null) {
                throw new BadRequest("trailing characters after the JSON object");
            }
        } catch (JacksonException e) {
            throw new BadRequest("invalid JSON: " + e.getOriginalMessage());
        }
        if (path == null || path.isEmpty()) {
            throw new BadRequest("`path` is required");
        }
        try {
            return new UpdateRequest(Path.of(path), quiesce);
        } catch (InvalidPathException e) {
            throw new BadRequest("not a valid path: " + e.getMessage());
        }
    }
}
