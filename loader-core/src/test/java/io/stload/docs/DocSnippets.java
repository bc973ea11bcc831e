package io.stload.docs;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.stload.format.Convert;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * The Java blocks of {@code README.md} and {@code docs/*.md}, compiled against the library and, where they say
 * so, run: documentation that cannot drift from the API. The convention, as {@code docs/README.md} states it for
 * whoever writes a page:
 * <ul>
 *   <li>every block fenced {@code ```java} carries a mode after the language: {@code java run} (compiled, then run
 *       against small generated checkpoints) or {@code java compile} (compiled only: it needs a server, a GPU or an
 *       application around it); a third word names the module whose tests compile it when that is not
 *       {@code loader-core}: {@code java compile loader-s3}, {@code java compile loader-cuda}, {@code java compile loader-jlama};</li>
 *   <li>a block is the body of a method that may throw anything, with {@link #IMPORTS} (and its module's package)
 *       imported; a block that declares a top-level type ({@code class}, {@code record}, {@code interface},
 *       {@code enum} at the start of a line) is a source file of its own instead, with the same imports, and is
 *       compiled only;</li>
 *   <li>in a {@code run} block, a string literal {@code "/models/NAME"} names a small generated Llama-shaped
 *       checkpoint ({@link #writeCheckpoint}), the same tensors for every NAME (their values differ), and
 *       {@code "/tmp/NAME"} a path that does not exist yet, in a folder of the block's own; anything it prints is
 *       captured.</li>
 * </ul>
 */
public final class DocSnippets {
    /** The module a block belongs to when its fence names none. */
    public static final String CORE = "loader-core";

    /** The modules whose tests compile blocks; a block naming another one is an error. */
    public static final List<String> MODULES = List.of(CORE, "loader-s3", "loader-cuda", "loader-jlama");

    /** What every block may use without importing it. */
    public static final List<String> IMPORTS = List.of("io.stload.*", "io.stload.checkpoint.*", "io.stload.format.*",
            "io.stload.load.*", "io.stload.plan.*", "io.stload.report.*", "io.stload.sink.*", "io.stload.store.*",
            "java.io.*", "java.lang.foreign.*", "java.net.*", "java.nio.file.*", "java.time.*", "java.util.*",
            "java.util.concurrent.*", "java.util.function.*");

    private static final Pattern FENCE = Pattern.compile("(?m)^```java([^\\n]*)\\n(.*?)^```[ \\t]*$", Pattern.DOTALL);
    private static final Pattern TOP_LEVEL_TYPE = Pattern.compile(
            "(?m)^(?:public |final |abstract |sealed |non-sealed )*(?:class|record|interface|enum) \\w+");
    /** {@code "/models/NAME"} and {@code "/tmp/NAME"} in a block: a generated checkpoint, a path of its own. */
    private static final Pattern EXAMPLE_PATH = Pattern.compile("\"/(models|tmp)/([A-Za-z0-9._-]+)\"");

    /**
     * One Java block of a page.
     *
     * @param page   the Markdown file, relative to the repository root
     * @param line   the line of its opening fence (1-based)
     * @param run    whether it is run after compiling
     * @param module the module whose tests compile it
     * @param code   the block's text
     */
    public record Snippet(String page, int line, boolean run, String module, String code) {
        /** {@return where the block is, for messages: {@code docs/cli.md:42}} */
        public String where() {
            return page + ":" + line;
        }

        /** {@return whether the block is a source file of its own rather than a method body} */
        public boolean declaresTypes() {
            return TOP_LEVEL_TYPE.matcher(code).find();
        }
    }

    private DocSnippets() {
    }

    /** {@return the repository root: the folder above the working directory holding README.md and loader-core} */
    public static Path root() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve("README.md")) && Files.isDirectory(d.resolve("loader-core"))) {
                return d;
            }
        }
        throw new AssertionError("no README.md with loader-core beside it above " + Path.of("").toAbsolutePath());
    }

    /** {@return README.md and every {@code docs/*.md}, relative to {@code root}, in a stable order} */
    public static List<Path> pages(Path root) {
        List<Path> pages = new ArrayList<>();
        pages.add(Path.of("README.md"));
        Path docs = root.resolve("docs");
        if (Files.isDirectory(docs)) {
            try (Stream<Path> s = Files.list(docs)) {
                s.filter(p -> p.getFileName().toString().endsWith(".md")).map(root::relativize).sorted()
                        .forEach(pages::add);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return pages;
    }

    /**
     * Every Java block of the pages under {@code root}; a fence whose mode or module breaks the convention fails.
     *
     * @param root the repository root
     * @return the blocks, page by page, in order
     */
    public static List<Snippet> all(Path root) {
        List<Snippet> out = new ArrayList<>();
        for (Path page : pages(root)) {
            String text = read(root.resolve(page));
            Matcher m = FENCE.matcher(text);
            while (m.find()) {
                int line = 1 + (int) text.substring(0, m.start()).chars().filter(c -> c == '\n').count();
                String where = page + ":" + line;
                String[] words = m.group(1).trim().split("\\s+");
                if (words.length < 1 || !(words[0].equals("run") || words[0].equals("compile")) || words.length > 2) {
                    fail(where + ": a java block is fenced ```java run or ```java compile [module] (see docs/README.md),"
                            + " not ```java" + m.group(1));
                }
                String module = words.length == 2 ? words[1] : CORE;
                if (!MODULES.contains(module)) {
                    fail(where + ": no module '" + module + "' compiles doc blocks; one of " + MODULES);
                }
                if (words[0].equals("run") && !module.equals(CORE)) {
                    fail(where + ": only loader-core's blocks run (others need a server or a GPU): use java compile");
                }
                Snippet s = new Snippet(page.toString(), line, words[0].equals("run"), module, m.group(2));
                if (s.run() && s.declaresTypes()) {
                    fail(where + ": a block that declares types has nothing to run: use java compile");
                }
                out.add(s);
            }
        }
        return out;
    }

    /**
     * Compiles every block of {@code module} in one compiler run (and runs its {@code run} blocks), failing with each
     * block's page and line and the compiler's messages.
     *
     * @param module     the module running the check
     * @param moreImport imports beyond {@link #IMPORTS} (the module's own package)
     * @param work       an empty folder to compile and generate checkpoints in
     * @return the blocks checked
     * @throws Exception when a block cannot be compiled or its run fails
     */
    public static List<Snippet> check(String module, List<String> moreImport, Path work) throws Exception {
        List<Snippet> mine = all(root()).stream().filter(s -> s.module().equals(module)).toList();
        Path models = Files.createDirectories(work.resolve("models"));
        List<Source> sources = new ArrayList<>();
        for (Snippet s : mine) {
            Path tmp = work.resolve("tmp").resolve("s" + sources.size());
            String code = EXAMPLE_PATH.matcher(s.code()).replaceAll(r -> {
                Path p = (r.group(1).equals("models") ? models : tmp).resolve(r.group(2));
                return Matcher.quoteReplacement('"' + p.toString().replace("\\", "\\\\") + '"');
            });
            Files.createDirectories(tmp);
            sources.add(Source.of(work.resolve("src"), "s" + sources.size(), s, code, moreImport));
        }
        if (sources.isEmpty()) {
            return mine;
        }
        Path out = Files.createDirectories(work.resolve("classes"));
        compile(sources, out);
        try (URLClassLoader loader = new URLClassLoader(new URL[] {out.toUri().toURL()},
                DocSnippets.class.getClassLoader())) {
            for (Source source : sources) {
                if (!source.block().run()) {
                    continue;
                }
                Matcher m = EXAMPLE_PATH.matcher(source.block().code());
                while (m.find()) {
                    Path dir = models.resolve(m.group(2));
                    if (m.group(1).equals("models") && !Files.exists(dir)) {
                        writeCheckpoint(dir, m.group(2).hashCode());
                    }
                }
                run(loader.loadClass(source.pkg() + ".Block"), source.block());
            }
        }
        return mine;
    }

    /**
     * A block as a source file: a method body in {@code Block.run()} of package {@code snippet.sN}, or the block's
     * own types in a file of that package (named after its public type, if it has one).
     *
     * @param pkg    the package it is compiled in, one per block
     * @param file   the file written
     * @param block  the block
     * @param offset the lines the file has before the block's first line
     */
    private record Source(String pkg, Path file, Snippet block, int offset) {
        private static final Pattern PUBLIC_TYPE = Pattern.compile(
                "(?m)^public (?:final |abstract |sealed |non-sealed )*(?:class|record|interface|enum) (\\w+)");

        static Source of(Path srcRoot, String name, Snippet s, String code, List<String> moreImport) throws IOException {
            String pkg = "snippet." + name;
            StringBuilder b = new StringBuilder("package " + pkg + ";\n");
            Stream.concat(IMPORTS.stream(), moreImport.stream()).forEach(i -> b.append("import ").append(i).append(";\n"));
            b.append("// ").append(s.where()).append('\n');
            String fileName = "Block";
            if (s.declaresTypes()) {
                Matcher m = PUBLIC_TYPE.matcher(code);
                if (m.find()) {
                    fileName = m.group(1);
                }
            } else {
                b.append("public final class Block {\n    public static void run() throws Exception {\n");
            }
            int offset = (int) b.chars().filter(c -> c == '\n').count();
            b.append(code);
            if (!s.declaresTypes()) {
                b.append("    }\n}\n");
            }
            Path dir = Files.createDirectories(srcRoot.resolve(pkg.replace('.', '/')));
            return new Source(pkg, Files.writeString(dir.resolve(fileName + ".java"), b), s, offset);
        }
    }

    private static void compile(List<Source> sources, Path out) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "tests run on a JDK");
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager fm = javac.getStandardFileManager(diagnostics, Locale.ROOT, StandardCharsets.UTF_8)) {
            boolean ok = javac.getTask(null, fm, diagnostics,
                    List.of("-d", out.toString(), "-classpath", testClassPath(), "-proc:none", "-Xlint:none",
                            "-implicit:none"),
                    null, fm.getJavaFileObjectsFromPaths(sources.stream().map(Source::file).toList())).call();
            if (!ok) {
                StringBuilder why = new StringBuilder("doc blocks that do not compile against the library:\n");
                TreeSet<String> lines = new TreeSet<>();
                for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
                    if (d.getKind() != Diagnostic.Kind.ERROR || d.getSource() == null) {
                        continue;
                    }
                    Path file = Path.of(d.getSource().toUri());
                    Source source = sources.stream().filter(x -> x.file().equals(file)).findFirst().orElseThrow();
                    long line = source.block().line() + d.getLineNumber() - source.offset();
                    lines.add(source.block().page() + ":" + line + ": " + d.getMessage(Locale.ROOT));
                }
                lines.forEach(l -> why.append("  ").append(l).append('\n'));
                fail(why.toString());
            }
        }
    }

    private static void run(Class<?> block, Snippet s) throws Exception {
        PrintStream stdout = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try {
            block.getMethod("run").invoke(null);
        } catch (InvocationTargetException e) {
            throw new AssertionError(s.where() + ": the block failed when run (it printed: "
                    + printed.toString(StandardCharsets.UTF_8).strip() + ")", e.getCause());
        } finally {
            System.setOut(stdout);
        }
    }

    /**
     * A small Llama-shaped checkpoint in two shards with an index: {@code model.embed_tokens.weight} BF16[16, 8],
     * two layers of attention ({@code q/k/v/o_proj}) and MLP ({@code gate/up/down_proj}) weights and their norms,
     * {@code model.norm.weight}, {@code lm_head.weight}.
     *
     * @param dir  the folder to create
     * @param seed picks the values
     * @throws IOException if it cannot be written
     */
    public static void writeCheckpoint(Path dir, long seed) throws IOException {
        Files.createDirectories(dir);
        SplittableRandom random = new SplittableRandom(seed);
        int hidden = 8;
        int vocab = 16;
        int ffn = 16;
        List<List<TensorData>> shards = List.of(new ArrayList<>(), new ArrayList<>());
        shards.get(0).add(bf16(random, "model.embed_tokens.weight", vocab, hidden));
        for (int layer = 0; layer < 2; layer++) {
            List<TensorData> shard = shards.get(layer);
            String p = "model.layers." + layer + ".";
            shard.add(bf16(random, p + "input_layernorm.weight", hidden));
            for (String proj : List.of("q", "k", "v", "o")) {
                shard.add(bf16(random, p + "self_attn." + proj + "_proj.weight", hidden, hidden));
            }
            shard.add(bf16(random, p + "post_attention_layernorm.weight", hidden));
            shard.add(bf16(random, p + "mlp.gate_proj.weight", ffn, hidden));
            shard.add(bf16(random, p + "mlp.up_proj.weight", ffn, hidden));
            shard.add(bf16(random, p + "mlp.down_proj.weight", hidden, ffn));
        }
        shards.get(1).add(bf16(random, "model.norm.weight", hidden));
        shards.get(1).add(bf16(random, "lm_head.weight", vocab, hidden));
        StringBuilder weightMap = new StringBuilder();
        for (int s = 0; s < shards.size(); s++) {
            String file = String.format("model-%05d-of-%05d.safetensors", s + 1, shards.size());
            SafetensorsWriter.write(dir.resolve(file), Map.of("format", "pt"), shards.get(s));
            for (TensorData t : shards.get(s)) {
                weightMap.append(weightMap.isEmpty() ? "" : ", ").append('"').append(t.name()).append("\": \"")
                        .append(file).append('"');
            }
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"metadata\": {\"format\": \"pt\"}, \"weight_map\": {" + weightMap + "}}");
    }

    private static TensorData bf16(SplittableRandom random, String name, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        byte[] bytes = new byte[(int) n * 2];
        MemorySegment s = MemorySegment.ofArray(bytes);
        for (int i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Convert.f32ToBf16((float) random.nextGaussian()));
        }
        return new TensorData(name, DType.BF16, shape, bytes);
    }

    /** Surefire names the test class path in a property; a plain JVM in java.class.path. */
    private static String testClassPath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
