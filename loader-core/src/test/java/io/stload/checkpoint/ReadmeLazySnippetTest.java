package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.Convert;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Lazy" snippet, exactly as printed there (only its example path replaced), compiled and run
 * against a small checkpoint holding the tensors it names: the documentation cannot drift from the API.
 */
class ReadmeLazySnippetTest {
    private static final String EXAMPLE_PATH = "\"/models/llama\"";

    @TempDir
    Path dir;

    @Test
    void lazySnippetCompilesAndRuns() throws Exception {
        String snippet = snippetUnder("### Lazy");
        assertTrue(snippet.contains(EXAMPLE_PATH), snippet);
        writeCheckpoint(dir.resolve("model"));
        String source = """
                package snippet;

                import io.stload.checkpoint.*;
                import io.stload.format.*;
                import io.stload.load.*;
                import io.stload.plan.*;
                import java.lang.foreign.*;
                import java.nio.file.Path;

                public class Lazy {
                    public static void run() {
                %s
                    }
                }
                """.formatted(snippet.replace(EXAMPLE_PATH, '"' + dir.resolve("model").toString() + '"'));
        Path src = Files.createDirectories(dir.resolve("src/snippet")).resolve("Lazy.java");
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
                getClass().getClassLoader())) {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            loader.loadClass("snippet.Lazy").getMethod("run").invoke(null);
        } finally {
            System.setOut(stdout);
        }
        assertEquals("BF16[16, 8], norm 16 bytes, 32 values, layer 0: 2 tensors\n",
                printed.toString(StandardCharsets.UTF_8));
    }

    /** The body of the first {@code java} code block after {@code heading} in the README. */
    private static String snippetUnder(String heading) throws IOException {
        String readme = Files.readString(readme());
        int at = readme.indexOf("\n" + heading + "\n");
        assertTrue(at >= 0, "README has no " + heading);
        Matcher m = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(at), "no java block under " + heading);
        return m.group(1);
    }

    private static Path readme() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("README.md")) && Files.exists(d.resolve("loader-core"))) {
                return d.resolve("README.md");
            }
        }
        throw new AssertionError("README.md not found above " + Path.of("").toAbsolutePath());
    }

    /** Surefire names the test class path in a property; a plain JVM in java.class.path. */
    private static String testClassPath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }

    private static void writeCheckpoint(Path model) throws IOException {
        Files.createDirectories(model);
        byte[] emb = new byte[16 * 8 * 2];
        MemorySegment e = MemorySegment.ofArray(emb);
        for (int i = 0; i < 16 * 8; i++) {
            e.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Convert.f32ToBf16(i));
        }
        SafetensorsWriter.write(model.resolve("model.safetensors"), Map.of("format", "pt"), List.of(
                new TensorData("model.embed_tokens.weight", DType.BF16, new long[] {16, 8}, emb),
                new TensorData("model.layers.0.self_attn.q_proj.weight", DType.BF16, new long[] {8, 8}, new byte[128]),
                new TensorData("model.layers.0.mlp.up_proj.weight", DType.BF16, new long[] {8, 8}, new byte[128]),
                new TensorData("model.layers.1.mlp.up_proj.weight", DType.BF16, new long[] {8, 8}, new byte[128]),
                new TensorData("model.norm.weight", DType.BF16, new long[] {8}, new byte[16])));
    }
}
