package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's Embedding section, run: each snippet there is the body between a {@code // snippet} marker
 * and {@code // end} here, character for character (checked by {@link #theReadmeShowsExactlyTheseSnippets}).
 */
class EmbeddingSnippetsTest {
    private static final Path README = Path.of("..", "README.md");
    private static final Path SOURCE = Path.of("src", "test", "java", "io", "stload", "load",
            "EmbeddingSnippetsTest.java");

    @TempDir
    static Path dir;
    static Path modelDir;
    static Map<String, String> reference;

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        modelDir = TestCheckpoints.sharded(dir, 2, 5);
        reference = Digests.ofFiles(Checkpoint.open(modelDir));
    }

    @Test
    void eager() {
        // snippet
        LoadPlan plan = new Planner().plan(Checkpoint.open(modelDir), LoadOptions.DEFAULTS);
        Map<String, String> crcs = new ConcurrentHashMap<>();
        System.out.println(plan.files().get(0).rule() + ": " + plan.files().get(0).decision().summary());
        try (LoadedWeights weights = new Loader().execute(plan, LoadListener.NONE)) {
            for (Tensor t : weights.tensors().values()) {   // off-heap memory the caller owns
                crcs.put(t.name(), Digests.crc32(t.data()));  // t.dtype(), t.shape(), t.getFloat(i)...
            }
            System.out.println(weights.report().gbps() + " GB/s");
        }                                                     // closing frees every tensor at once
        // end
        assertEquals(reference, crcs);
    }

    @Test
    void streaming() {
        // snippet
        LoadPlan plan = new Planner().plan(Checkpoint.open(modelDir), LoadOptions.DEFAULTS);
        Map<String, String> crcs = new ConcurrentHashMap<>();
        LoadReport report = new Loader().stream(plan, (slice, bytes) -> {
            // bytes: read-only and valid during this call only: upload, convert or hash them here
            crcs.put(slice.name(), Digests.crc32(bytes));
        }, 64L << 20, LoadListener.NONE);                     // at most ~64 MiB of the loader's own memory
        System.out.println(crcs.size() + " tensors at " + report.gbps() + " GB/s");
        // end
        assertEquals(reference, crcs);
    }

    @Test
    void intoTheCallersBuffers() {
        // snippet
        LoadPlan plan = new Planner().plan(Checkpoint.open(modelDir), LoadOptions.DEFAULTS);
        Map<String, String> crcs = new ConcurrentHashMap<>();
        try (Arena arena = Arena.ofShared()) {                // the caller's memory, the caller's lifetime
            CallerBuffers mine = new CallerBuffers(slice -> arena.allocate(slice.byteSize(), 64));
            new Loader().execute(plan, mine, LoadListener.NONE);
            for (String name : plan.slices().keySet()) {
                MemorySegment bytes = mine.segment(name);
                crcs.put(name, Digests.crc32(bytes));
            }
        }
        // end
        assertEquals(reference, crcs);
    }

    @Test
    void theReadmeShowsExactlyTheseSnippets() throws IOException {
        String readme = Files.readString(README);
        int from = readme.indexOf("\n## Embedding");
        String section = readme.substring(from, readme.indexOf("\n## ", from + 1));
        List<String> shown = new ArrayList<>();
        Matcher m = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(section);
        while (m.find()) {
            shown.add(m.group(1));
        }
        List<String> here = new ArrayList<>();
        Matcher s = Pattern.compile("// snippet\n(.*?)\n\\s*// end", Pattern.DOTALL).matcher(Files.readString(SOURCE));
        while (s.find()) {
            here.add(s.group(1).replaceAll("(?m)^ {8}", "") + "\n");
        }
        assertEquals(3, here.size());
        for (String snippet : here) {
            assertTrue(shown.contains(snippet), "the README's Embedding section lacks:\n" + snippet);
        }
    }
}
