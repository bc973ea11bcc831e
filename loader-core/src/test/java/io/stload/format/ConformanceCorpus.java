package io.stload.format;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/**
 * The shared conformance corpus (files made with the reference implementation, and crafted invalid ones),
 * found through the {@code stload.conformance.dir} property the build sets. A clone without it skips the
 * tests that use it; the generated cases beside them still cover every rule.
 */
public final class ConformanceCorpus {
    private ConformanceCorpus() {
    }

    /** The corpus directory; aborts the calling test (skipped, not failed) when there is none. */
    public static Path dir() {
        String dir = System.getProperty("stload.conformance.dir");
        assumeTrue(dir != null && Files.isRegularFile(Path.of(dir, "expected.json")),
                "no conformance corpus at " + dir);
        return Path.of(dir).toAbsolutePath().normalize();
    }

    /** expected.json as a tree of maps, lists, strings and longs. */
    public static Object expected() {
        try (JsonParser p = new JsonFactory().createParser(ObjectReadContext.empty(),
                Files.readAllBytes(dir().resolve("expected.json")))) {
            p.nextToken();
            return read(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Object read(JsonParser p) {
        return switch (p.currentToken()) {
            case START_OBJECT -> {
                var map = new java.util.LinkedHashMap<String, Object>();
                String name;
                while ((name = p.nextName()) != null) {
                    p.nextToken();
                    map.put(name, read(p));
                }
                yield map;
            }
            case START_ARRAY -> {
                var list = new java.util.ArrayList<Object>();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    list.add(read(p));
                }
                yield list;
            }
            case VALUE_STRING -> p.getString();
            case VALUE_NUMBER_INT -> p.getLongValue();
            case VALUE_NULL -> null;
            default -> throw new IllegalStateException("unexpected " + p.currentToken() + " in expected.json");
        };
    }
}
