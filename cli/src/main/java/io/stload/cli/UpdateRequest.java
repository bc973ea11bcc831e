package io.stload.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Set;

/**
 * The body of {@code POST /update_weights_from_disk}: {@code {"path": "...", "quiesce": true|false}}.
 * Other engines' fields are ignored, so clients written for their endpoints can send theirs; a field of
 * {@code /reload}'s is refused, as a request meant for {@code /reload} (its mode, its rank) would run otherwise.
 */
record UpdateRequest(Path path, boolean quiesce) {
    static UpdateRequest parse(byte[] body) {
        class Fields {
            String path;
            boolean quiesce;
        }
        Fields f = new Fields();
        JsonBody.read(body, (p, field, value) -> {
            switch (field) {
                case "path" -> f.path = JsonBody.string(p, value, field);
                case "quiesce" -> f.quiesce = JsonBody.bool(value, field);
                default -> {
                    if (Set.of(ReloadRequest.FIELDS.split(", ")).contains(field)) {
                        throw new BadRequest("`" + field + "` is a field of /reload; /update_weights_from_disk takes"
                                + " path and quiesce");
                    }
                    p.skipChildren();
                }
            }
        });
        if (f.path == null || f.path.isEmpty()) {
            throw new BadRequest("`path` is required");
        }
        try {
            return new UpdateRequest(Path.of(f.path), f.quiesce);
        } catch (InvalidPathException e) {
            throw new BadRequest("not a valid path: " + e.getMessage());
        }
    }
}
