package io.stload.plan;

import io.stload.Printable;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/**
 * A model's {@code config.json} as {@code --partition auto} reads it: the JSON object, with the language model's
 * numbers taken from a nested {@code text_config} where the model has one (a multimodal checkpoint such as Gemma 3's).
 *
 * @param source   where it was read from, for messages
 * @param top      the whole object
 * @param language the object holding the language model's numbers: {@code text_config}, or {@code top}
 */
record ModelConfig(String source, Map<String, Object> top, Map<String, Object> language) {
    /** The name a model's configuration has beside its weights. */
    static final String FILE_NAME = "config.json";
    /** A config.json is a few kilobytes; a larger file is a mistake. */
    private static final long MAX_BYTES = 4 << 20;
    private static final int MAX_DEPTH = 64;
    private static final JsonFactory JSON = JsonFactory.builder().build();

    /** The configuration beside a checkpoint: in its directory, the directory of its one file, or its remote folder. */
    static ModelConfig of(Checkpoint checkpoint) {
        if (checkpoint.remote() != null) {
            String where = checkpoint.remote().location() + FILE_NAME;
            byte[] bytes;
            try {
                if (!checkpoint.remote().exists(FILE_NAME)) {
                    throw missing(where);
                }
                bytes = checkpoint.remote().readAll(FILE_NAME, MAX_BYTES);
            } catch (IOException e) {
                throw StloadException.usage("cannot read " + where + " for --partition auto: " + e.getMessage());
            }
            return parse(where, new String(bytes, StandardCharsets.UTF_8));
        }
        // Resolved as the weights are: a config.json that links out of the checkpoint's folder is never read.
        Path p = checkpoint.path();
        Path dir = Files.isDirectory(p) ? p : p.toAbsolutePath().getParent();
        Path named = dir.resolve(FILE_NAME);
        return read(checkpoint.fileBeside(FILE_NAME).orElseThrow(() -> missing(named.toString())), named);
    }

    /** The configuration in a file. */
    static ModelConfig read(Path file) {
        return read(file, file);
    }

    /** The configuration in {@code file}, which the user knows as {@code named} (a link to it, in a hub snapshot). */
    private static ModelConfig read(Path file, Path named) {
        if (!Files.exists(file)) {
            throw missing(named.toString());
        }
        try {
            long size = FileChecks.requireRegularFile(file).size(); // a FIFO would block the read below
            if (size > MAX_BYTES) {
                throw StloadException.usage(named + ": a config.json of " + size
                        + " bytes is not a model's configuration");
            }
            return parse(named.toString(), Files.readString(file));
        } catch (CharacterCodingException e) {
            throw StloadException.usage(named + ": not UTF-8 text, so not a model's configuration");
        } catch (ClosedByInterruptException e) {
            throw FileChecks.failure(named, "", e); // the interrupt, not the user's file
        } catch (IOException e) {
            throw StloadException.usage("cannot read " + named + ": " + FileChecks.reason(e));
        }
    }

    private static StloadException missing(String where) {
        return StloadException.usage("--partition auto reads the model's " + FILE_NAME + " beside its weights, and "
                + where + " does not exist; copy it there, or give partition rules (a JSON rules file)");
    }

    /** The configuration in a text. */
    @SuppressWarnings("unchecked")
    static ModelConfig parse(String source, String json) {
        Object value;
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), json)) {
            JsonToken first = p.nextToken();
            if (first != JsonToken.START_OBJECT) {
                throw StloadException.usage(source + ": not a JSON object");
            }
            value = read(p, source, 0);
            if (p.nextToken() != null) {
                throw StloadException.usage(source + ": trailing characters after the JSON object");
            }
        } catch (JacksonException e) {
            throw StloadException.usage(source + ": not valid JSON: " + PartitionSpec.jsonReason(e));
        }
        Map<String, Object> top = (Map<String, Object>) value;
        Map<String, Object> language = top.get("text_config") instanceof Map<?, ?> text ? (Map<String, Object>) text : top;
        return new ModelConfig(source, top, language);
    }

    private static Object read(JsonParser p, String source, int depth) {
        if (depth > MAX_DEPTH) {
            throw StloadException.usage(source + ": nested deeper than " + MAX_DEPTH + " levels");
        }
        return switch (p.currentToken()) {
            case START_OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                String name;
                while ((name = p.nextName()) != null) {
                    p.nextToken();
                    m.put(name, read(p, source, depth + 1));
                }
                yield m;
            }
            case START_ARRAY -> {
                List<Object> l = new ArrayList<>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    l.add(read(p, source, depth + 1));
                }
                yield l;
            }
            case VALUE_STRING -> p.getString();
            case VALUE_NUMBER_INT -> p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? p.getDoubleValue()
                    : (Object) p.getLongValue();
            case VALUE_NUMBER_FLOAT -> p.getDoubleValue();
            case VALUE_TRUE -> Boolean.TRUE;
            case VALUE_FALSE -> Boolean.FALSE;
            default -> null;
        };
    }

    /** {@return the model type: the top level's, else the language model's; empty when neither says} */
    String modelType() {
        Object t = top.get("model_type");
        if (!(t instanceof String)) {
            t = language.get("model_type");
        }
        return t instanceof String s ? s : "";
    }

    /** {@return true when the top level has the key (with any value but null)} */
    boolean hasTop(String key) {
        return top.get(key) != null;
    }

    /** {@return true when the language model's numbers (or the top level's) have the key, with any value but null} */
    boolean has(String key) {
        return language.get(key) != null || top.get(key) != null;
    }

    /** A whole number of at least 1 the rules need; its absence or another value is the user's to fix. */
    long positive(String key) {
        long v = optional(key, -1);
        if (v < 1) {
            throw StloadException.usage(source + ": \"" + key + "\" must be a whole number of at least 1"
                    + (has(key) ? "" : ", and is missing") + " (--partition auto needs it for model_type \""
                    + modelType() + "\")");
        }
        return v;
    }

    /** A whole number of at least 0, or {@code otherwise} when the key is absent or null. */
    long optional(String key, long otherwise) {
        Object v = language.get(key);
        if (v == null) {
            v = top.get(key);
        }
        if (v == null) {
            return otherwise;
        }
        if (v instanceof Long l && l >= 0) {
            return l;
        }
        String given = v instanceof String text ? "the string \"" + Printable.start(text, 40) + "\"" : String.valueOf(v);
        throw StloadException.usage(source + ": \"" + key + "\" must be a whole number of at least 0, not " + given);
    }
}
