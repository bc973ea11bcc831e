package io.stload.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.CapturedLog;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * The example of docs/reload.md, exactly as printed there (only its hub cache path replaced), compiled and run on the
 * host destination against a hub cache holding the two revisions it names: the documentation cannot drift from the
 * API.
 */
@Isolated("it replaces System.out and captures a logger every test shares")
class ReloadDocSnippetTest {
    private static final String EXAMPLE_CACHE = "\"/models/hub\"";

    @TempDir
    Path dir;

    @Test
    void theExampleCompilesAndRunsOnTheHostDestination() throws Exception {
        String snippet = snippetUnder("## Example");
        assertTrue(snippet.contains(EXAMPLE_CACHE), snippet);
        Path cache = dir.resolve("hub");
        ReloadMatrix.HubRepo hub = new ReloadMatrix.HubRepo(cache);
        hub.publish(1);
        hub.publish(2);
        hub.finishDownloads();
        String source = """
                package snippet;

                import io.stload.checkpoint.*;
                import io.stload.format.*;
                import io.stload.plan.*;
                import io.stload.store.*;
                import java.nio.file.Path;
                import java.time.Duration;

                public class Reload {
                    public static void run() {
                %s
                    }
                }
                """.formatted(snippet.replace(EXAMPLE_CACHE, '"' + cache.toString() + '"'));
        Path src = Files.createDirectories(dir.resolve("src/snippet")).resolve("Reload.java");
        Files.writeString(src, source);
        Path classes = Files.createDirectories(dir.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "tests run on a JDK");
        StringWriter diagnostics = new StringWriter();
        boolean compiled = javac.getTask(diagnostics, null, null,
                List.of("-d", classes.toString(), "-classpath", testClassPath(), "-proc:none"), null,
                javac.getStandardFileManager(null, null, StandardCharsets.UTF_8).getJavaFileObjects(src)).call();
        assertTrue(compiled, diagnostics + "\n" + source);

        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()},
                getClass().getClassLoader()); CapturedLog log = CapturedLog.checkpoint()) {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            loader.loadClass("snippet.Reload").getMethod("run").invoke(null);
            // The snippet waits with the default policy, which logs the commit each revision resolved to.
            assertEquals(2, log.messages().size(), log.toString());
            assertTrue(log.messages().getLast().startsWith("acme/policy@step-2 is commit "
                    + ReloadMatrix.HubRepo.commitOf(2)), log.toString());
        } finally {
            System.setOut(stdout);
        }
        assertEquals("version 2 (commit " + ReloadMatrix.HubRepo.commitOf(2) + "): read "
                        + StepCheckpoints.changed(2).size() + " tensors, carried over "
                        + (StepCheckpoints.names().size() - StepCheckpoints.changed(2).size()) + "\n",
                printed.toString(StandardCharsets.UTF_8));
    }

    /** The body of the first {@code java compile} block (loader-core's) after {@code heading} in docs/reload.md. */
    private static String snippetUnder(String heading) throws IOException {
        String doc = Files.readString(doc());
        int at = doc.indexOf("\n" + heading + "\n");
        assertTrue(at >= 0, "docs/reload.md has no " + heading);
        Matcher m = Pattern.compile("```java compile\n(.*?)```", Pattern.DOTALL).matcher(doc);
        assertTrue(m.find(at), "no java block under " + heading);
        return m.group(1);
    }

    private static Path doc() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("docs/reload.md")) && Files.exists(d.resolve("loader-core"))) {
                return d.resolve("docs/reload.md");
            }
        }
        throw new AssertionError("docs/reload.md not found above " + Path.of("").toAbsolutePath());
    }

    /** Surefire names the test class path in a property; a plain JVM in java.class.path. */
    private static String testClassPath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }
}
