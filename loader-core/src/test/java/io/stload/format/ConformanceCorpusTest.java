package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Every file of the shared conformance corpus is read exactly as expected.json says, one test per file. */
class ConformanceCorpusTest {
    @TestFactory
    Stream<DynamicTest> validFilesParseAsTheReferenceWroteThem() {
        Path dir = ConformanceCorpus.dir();
        Map<String, Object> valid = map(map(ConformanceCorpus.expected()).get("valid"));
        return valid.entrySet().stream().map(e -> dynamicTest(e.getKey(),
                () -> checkValid(dir.resolve("valid").resolve(e.getKey()), map(e.getValue()))));
    }

    @TestFactory
    Stream<DynamicTest> invalidFilesAreRejectedWithTheExpectedKind() {
        Path dir = ConformanceCorpus.dir();
        Map<String, Object> invalid = map(map(ConformanceCorpus.expected()).get("invalid"));
        return invalid.entrySet().stream().map(e -> dynamicTest(e.getKey(), () -> {
            Path file = dir.resolve("invalid").resolve(e.getKey());
            ErrorKind kind = ErrorKind.valueOf((String) map(e.getValue()).get("expected"));
            StloadException fromFile = assertThrows(StloadException.class, () -> SafetensorsFile.open(file, Arena.ofConfined()));
            assertEquals(kind, fromFile.kind(), fromFile::getMessage);
            assertEquals(file, fromFile.file());
            StloadException fromBytes = assertThrows(StloadException.class, () -> HeaderParser.parse(Files.readAllBytes(file), file));
            assertEquals(kind, fromBytes.kind(), fromBytes::getMessage);
        }));
    }

    /** A file in the corpus that expected.json forgets would silently go untested. */
    @Test
    void expectedJsonCoversEveryFile() throws IOException {
        Path dir = ConformanceCorpus.dir();
        Map<String, Object> expected = map(ConformanceCorpus.expected());
        for (String group : List.of("valid", "invalid")) {
            Path root = dir.resolve(group);
            try (Stream<Path> files = Files.walk(root)) {
                Set<String> onDisk = new java.util.TreeSet<>(files.filter(p -> p.toString().endsWith(".safetensors"))
                        .map(p -> root.relativize(p).toString()).toList());
                assertEquals(onDisk, new java.util.TreeSet<>(map(expected.get(group)).keySet()), group);
            }
        }
    }

    private static void checkValid(Path file, Map<String, Object> expected) {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile sf = SafetensorsFile.open(file, arena);
            Header h = sf.header();
            assertEquals(expected.get("data_start"), h.dataStart());
            assertEquals(expected.get("metadata") == null ? Map.of() : expected.get("metadata"), h.metadata());
            assertEquals(expected.get("metadata") != null, h.hasMetadata());
            Map<String, Object> tensors = map(expected.get("tensors"));
            assertEquals(tensors.size(), h.tensors().size());
            for (Map.Entry<String, Object> e : tensors.entrySet()) {
                Map<String, Object> t = map(e.getValue());
                Tensor tensor = sf.tensor(e.getKey());
                assertNotNull(tensor, e.getKey());
                assertEquals(t.get("dtype"), tensor.dtype().name(), e.getKey());
                assertArrayEquals(longs(t.get("shape")), tensor.shape().toArray(), e.getKey());
                assertArrayEquals(longs(t.get("data_offsets")), new long[] {tensor.info().begin(), tensor.info().end()}, e.getKey());
                CRC32 crc = new CRC32();
                crc.update(tensor.data().asByteBuffer());
                assertEquals(t.get("crc32"), String.format("%08x", crc.getValue()), e.getKey());
            }
        }
    }

    private static long[] longs(Object list) {
        return ((List<?>) list).stream().mapToLong(o -> (Long) o).toArray();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }
}
