package io.stload.modulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.load.Loader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The public API of io.stload.core is on record in {@code loader-core/api/stload-core.api}, one line per type and
 * member of the exported packages: an API change is a visible diff of that file in the same commit. After an
 * intended change, run the build with {@code -Dstload.api.update=true} to rewrite the file, and review its diff.
 */
class ApiRecordTest {
    private static final Path RECORD = Path.of("api", "stload-core.api");

    @Test
    void thePublicApiMatchesItsRecord() throws IOException {
        List<String> now = ApiSurface.signatures(Loader.class);
        if (Boolean.getBoolean("stload.api.update")) {
            Files.createDirectories(RECORD.getParent());
            Files.write(RECORD, now);
        }
        List<String> recorded = Files.exists(RECORD) ? Files.readAllLines(RECORD) : List.of();
        List<String> added = new ArrayList<>(now);
        added.removeAll(recorded);
        List<String> removed = new ArrayList<>(recorded);
        removed.removeAll(now);
        assertEquals(List.of(), added.isEmpty() && removed.isEmpty() ? List.of() : List.of(
                "added: " + added, "removed: " + removed),
                "the public API differs from " + RECORD + "; if intended, rebuild with -Dstload.api.update=true");
    }
}
