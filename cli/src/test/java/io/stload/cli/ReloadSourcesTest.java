package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.store.WeightSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which s3:// URLs a reload may name: under the server's prefix, with no segment a store or proxy would resolve. */
class ReloadSourcesTest {
    @TempDir
    Path root;

    @Test
    void everyDotSegmentIsRefusedWhereverItStands() throws IOException {
        ReloadSources sources = new ReloadSources(new ReloadGuard("a-token-of-sixteen-chars", root),
                url -> WeightSource.of(url, () -> {
                    throw new AssertionError("never opened here");
                }), "s3://b/p/");
        assertEquals("s3://b/p/step-2/", sources.resolve("s3://b/p/step-2/").orElseThrow().name());
        for (String url : List.of("s3://b/p/.", "s3://b/p/./", "s3://b/p/./x/", "s3://b/p/..", "s3://b/p/../q/",
                "s3://b/p/x/..", "s3://b/p/x/.", "s3://b/q/")) {
            assertTrue(sources.resolve(url).isEmpty(), url);
        }
    }
}
