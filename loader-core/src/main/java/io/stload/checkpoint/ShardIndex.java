package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/** A {@code *.safetensors.index.json}: which shard file holds each tensor. */
record ShardIndex(Path file, Map<String, String> weightMap) {
    private static final JsonFactory JSON = JsonFactory.builder().build();
    /** An index names tensors, not data; anything larger is not an index. */
    static final long MAX_INDEX_BYTES = 256L << 20;

    static ShardIndex read(Path file) {
        return read(file, file);
    }

    /** Reads {@code source}, the real file behind the index the checkpoint names as {@code file}. */
    static ShardIndex read(Path source, Path file) {
        byte[] bytes;
        try {
            long size = Files.size(source);
            if (size > MAX_INDEX_BYTES) {
                throw new StloadException(ErrorKind.InvalidIndex, file, "index is " + size + " bytes, larger than any real index");
            }
            bytes = Files.readAllBytes(source);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, file, "cannot read index: " + e.getMessage(), e);
        }
        return parse(bytes, file);
    }

    /** Parses an index's bytes, fetched by whatever means; {@code file} names it in errors. */
    static ShardIndex parse(byte[] bytes, Path file) {
        Map<String, String> weightMap = null;
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw invalid(file, "index is not a JSON object");
            }
            String field;
            while ((field = p.nextName()) != null) {
                JsonToken t = p.nextToken();
                if (!field.equals("weight_map")) {
                    p.skipChildren();
                    continue;
                }
                if (t != JsonToken.START_OBJECT || weightMap != null) {
                    throw invalid(file, "`weight_map` must be given once, as an object");
                }
                weightMap = new LinkedHashMap<>();
                String tensor;
                while ((tensor = p.nextName()) != null) {
                    if (p.nextToken() != JsonToken.VALUE_STRING) {
                        throw invalid(file, "shard of tensor `" + tensor + "` is not a file name");
                    }
                    if (weightMap.put(tensor, p.getString()) != null) {
                        throw new StloadException(ErrorKind.DuplicateTensorName, file,
                                "tensor `" + tensor + "` is given twice in weight_map");
                    }
                }
            }
            if (p.nextToken() != null) {
                throw invalid(file, "trailing characters after the index object");
            }
        } catch (JacksonException e) {
            throw invalid(file, "invalid JSON: " + e.getOriginalMessage());
        }
        if (weightMap == null) {
            throw invalid(file, "no `weight_map`");
        }
        return new ShardIndex(file, weightMap);
    }

    private static StloadException invalid(Path file, String message) {
        return new StloadException(ErrorKind.InvalidIndex, file, message);
    }
}
