package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/**
 * A sharded checkpoint's {@code *.safetensors.index.json}, parsed and checked within a budget of memory as headers
 * are: which shard file holds each tensor (a file name, never a control character in it), and its {@code metadata}
 * object (e.g. {@code total_size}), each scalar value as its JSON text; nested values are left out.
 *
 * @param file      the index, as the checkpoint names it
 * @param weightMap tensor name to shard name
 * @param metadata  the scalars of its {@code metadata} object
 */
public record ShardIndex(Path file, Map<String, String> weightMap, Map<String, String> metadata) {
    private static final JsonFactory JSON = JsonFactory.builder().build();
    /** An index names tensors, not data; anything larger is not an index. */
    public static final long MAX_INDEX_BYTES = 256L << 20;

    /**
     * Checks that every component is given.
     *
     * @throws StloadException {@link ErrorKind#Usage} if any component is null
     */
    public ShardIndex {
        if (file == null || weightMap == null || metadata == null) {
            throw StloadException.usage("an index needs its file, weight map and metadata, not null");
        }
    }

    /**
     * Reads and checks an index file.
     *
     * @param source the real file behind the index (a link's target)
     * @param file   the index as the checkpoint names it, for errors and the result
     * @return the index
     * @throws StloadException {@link ErrorKind#InvalidIndex} for an index that is not one; {@link ErrorKind#Io} if it
     *         cannot be read; {@link ErrorKind#Usage} if {@code source} or {@code file} is null
     */
    public static ShardIndex read(Path source, Path file) {
        if (source == null || file == null) {
            throw StloadException.usage("an index is read from a file, under the path that names it, not null");
        }
        byte[] bytes;
        try {
            long size = FileChecks.requireRegularFile(source).size();
            if (size > MAX_INDEX_BYTES) {
                throw new StloadException(ErrorKind.InvalidIndex, file, "index is " + size + " bytes, larger than any real index");
            }
            bytes = Files.readAllBytes(source);
        } catch (IOException e) {
            throw FileChecks.failure(file, "cannot read index", e);
        }
        return parse(bytes, file);
    }

    /**
     * Parses an index's bytes, fetched by whatever means.
     *
     * @param bytes the index file's content
     * @param file  names it in errors and in the result
     * @return the index
     * @throws StloadException {@link ErrorKind#InvalidIndex} for an index that is not one; {@link ErrorKind#Usage}
     *         if {@code bytes} or {@code file} is null
     */
    public static ShardIndex parse(byte[] bytes, Path file) {
        if (bytes == null || file == null) {
            throw StloadException.usage("an index is parsed from its bytes, under the path that names it, not null");
        }
        Map<String, String> weightMap = null;
        Map<String, String> metadata = new LinkedHashMap<>();
        DecodeBudget budget = new DecodeBudget(file, bytes.length);
        // Thousands of tensors name the same few shards: hold each shard name once.
        Map<String, String> shardNames = new HashMap<>();
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw invalid(file, "index is not a JSON object");
            }
            String field;
            while ((field = p.nextName()) != null) {
                JsonToken t = p.nextToken();
                if (field.equals("metadata") && t == JsonToken.START_OBJECT) {
                    readScalars(p, metadata, budget);
                    continue;
                }
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
                    String shard = shardNames.computeIfAbsent(p.getString(), s -> s);
                    requireFileName(shard, tensor, file);
                    budget.charge(DecodeBudget.PER_ENTRY + DecodeBudget.bytesOf(tensor), "`weight_map`");
                    if (weightMap.put(tensor, shard) != null) {
                        throw new StloadException(ErrorKind.DuplicateTensorName, file,
                                "tensor `" + tensor + "` is given twice in weight_map");
                    }
                }
            }
            if (p.nextToken() != null) {
                throw invalid(file, "trailing characters after the index object");
            }
        } catch (JacksonException e) {
            long at = JsonErrors.byteOffset(e, bytes);
            throw invalid(file, "invalid JSON: " + JsonErrors.reason(e) + (at < 0 ? "" : " at byte " + at));
        }
        if (weightMap == null) {
            throw invalid(file, "no `weight_map`");
        }
        if (weightMap.isEmpty()) {
            throw invalid(file, "`weight_map` is empty: the index maps no tensor to any shard");
        }
        return new ShardIndex(file, weightMap, metadata);
    }

    /** The members of the object the parser is in, scalars as their text; a nested value is skipped. */
    private static void readScalars(JsonParser p, Map<String, String> into, DecodeBudget budget) {
        String name;
        while ((name = p.nextName()) != null) {
            JsonToken t = p.nextToken();
            if (t.isScalarValue()) {
                String value = p.getString();
                budget.charge(DecodeBudget.PER_ENTRY + DecodeBudget.bytesOf(name) + DecodeBudget.bytesOf(value),
                        "`metadata`");
                into.put(name, value);
            } else {
                p.skipChildren();
            }
        }
    }

    /**
     * A shard name is a file name: a control character (a NUL, which no path can hold, an escape sequence, a
     * newline) is refused here, once, rather than wherever the name is next used as a path or printed.
     */
    private static void requireFileName(String shard, String tensor, Path file) {
        for (int i = 0; i < shard.length(); i++) {
            if (Character.isISOControl(shard.charAt(i))) {
                throw invalid(file, String.format(Locale.ROOT, "shard name `%s` of tensor `%s` holds a control "
                        + "character (U+%04X at index %d); a shard name must be a file name", shard, tensor,
                        (int) shard.charAt(i), i));
            }
        }
    }

    private static StloadException invalid(Path file, String message) {
        return new StloadException(ErrorKind.InvalidIndex, file, message);
    }
}
