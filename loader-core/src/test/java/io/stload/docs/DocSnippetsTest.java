package io.stload.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.docs.DocSnippets.Snippet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * The README and {@code docs/} as a reader meets them: every Java block compiles against the library and the
 * {@code run} ones run ({@link DocSnippets} has the convention; loader-s3 and loader-cuda check their own blocks),
 * every relative link and anchor leads somewhere, and the README stays a front door.
 */
@Isolated("the snippets it runs print to System.out, which it replaces")
class DocSnippetsTest {
    private static final Pattern LINK = Pattern.compile("!?\\[([^\\]]*)\\]\\(([^)\\s]+)\\)");
    private static final Pattern HEADING = Pattern.compile("(?m)^#{1,6} +(.+?)\\s*#*\\s*$");

    @TempDir
    Path work;

    @Test
    void theCoreBlocksCompileAndTheRunBlocksRun() throws Exception {
        List<Snippet> checked = DocSnippets.check(DocSnippets.CORE, List.of(), work);
        List<Snippet> readme = checked.stream().filter(s -> s.page().equals("README.md")).toList();
        // The front door shows the three ways to embed, each run against a checkpoint.
        for (String way : List.of("Loader.load(", "Checkpoint.open(", ".stream(")) {
            assertTrue(readme.stream().anyMatch(s -> s.run() && s.code().contains(way)),
                    "README.md runs no block using " + way);
        }
    }

    @Test
    void everyJavaBlockNamesItsModeAndAModuleThatChecksIt() {
        List<Snippet> all = DocSnippets.all(DocSnippets.root());
        assertFalse(all.isEmpty());
        for (Snippet s : all) {
            assertTrue(DocSnippets.MODULES.contains(s.module()), s.where());
        }
    }

    @Test
    void everyRelativeLinkAndAnchorResolves() {
        Path root = DocSnippets.root();
        List<String> broken = new ArrayList<>();
        Map<Path, Set<String>> anchors = new HashMap<>();
        for (Path page : DocSnippets.pages(root)) {
            Path file = root.resolve(page);
            Matcher m = LINK.matcher(prose(DocSnippets.read(file)));
            while (m.find()) {
                String target = m.group(2);
                if (target.matches("(?i)(https?|mailto):.*")) {
                    continue;
                }
                int hash = target.indexOf('#');
                String path = hash < 0 ? target : target.substring(0, hash);
                Path to = path.isEmpty() ? file : file.getParent().resolve(path).normalize();
                if (!to.startsWith(root) || !Files.exists(to)) {
                    broken.add(page + ": " + target + " (no such file)");
                } else if (hash >= 0) {
                    Set<String> known = anchors.computeIfAbsent(to, p -> slugs(DocSnippets.read(p)));
                    if (!known.contains(target.substring(hash + 1))) {
                        broken.add(page + ": " + target + " (no such heading)");
                    }
                }
            }
        }
        assertEquals(List.of(), broken);
    }

    @Test
    void theReadmeIsAFrontDoorOfAtMost300Lines() {
        String readme = DocSnippets.read(DocSnippets.root().resolve("README.md"));
        long lines = readme.lines().count();
        assertTrue(lines <= 300, "README.md has " + lines + " lines; reference belongs in docs/");
        // .ci/run runs the test command the README names.
        assertTrue(readme.contains("mvn -B verify"));
        assertTrue(DocSnippets.read(DocSnippets.root().resolve(".ci/run")).contains("\nmvn -B verify\n"));
    }

    /** The text outside code blocks and code spans, where links are links. */
    private static String prose(String markdown) {
        return markdown.replaceAll("(?ms)^```.*?^```[ \\t]*$", "").replaceAll("`[^`\\n]*`", "");
    }

    /** The anchors GitHub gives a page's headings. */
    static Set<String> slugs(String markdown) {
        Set<String> out = new HashSet<>();
        Map<String, Integer> seen = new HashMap<>();
        Matcher m = HEADING.matcher(markdown.replaceAll("(?ms)^```.*?^```[ \\t]*$", ""));
        while (m.find()) {
            String slug = m.group(1).replaceAll("\\[([^\\]]*)\\]\\([^)]*\\)", "$1").toLowerCase(Locale.ROOT)
                    .replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-');
            int n = seen.merge(slug, 1, Integer::sum);
            out.add(n == 1 ? slug : slug + "-" + (n - 1));
        }
        return out;
    }
}
