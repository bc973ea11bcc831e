package io.stload.testing;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The command line of a child JVM that a test starts by hand: this JVM's own {@code java}, native access for the
 * class path, the test JVMs' JIT setting (C1 alone: the parent pom's {@code stload.test.jit}), and, unless the
 * caller chooses a collector or a heap size itself, the serial collector; then the
 * caller's own JVM options, the class path (this JVM's by default), the main class and its arguments.
 *
 * <p>A child is short-lived: C2's compiler threads and G1's parallel workers cost it more CPU than they save, and
 * on a machine of two cores that CPU comes out of the test run. None of these flags prints anything, so a child
 * whose stderr is asserted sees no difference (which is why they are not passed through {@code JAVA_TOOL_OPTIONS},
 * whose every use the JVM announces on stderr).
 */
public final class ChildJvm {
    /** What the test JVMs themselves run with (the parent pom's {@code stload.test.jit}). */
    public static final String JIT = "-XX:TieredStopAtLevel=1";
    /** Native access for code on the class path, as the launcher and the test JVMs have it. */
    public static final String ALL_UNNAMED = "ALL-UNNAMED";

    private static final Pattern JIT_CHOICE =
            Pattern.compile("-XX:(TieredStopAtLevel=.*|[+-]TieredCompilation)|-Xint|-Xcomp");
    private static final Pattern GC_OR_HEAP_CHOICE = Pattern.compile(
            "-XX:[+-]Use\\w*GC|-Xm[xsn].*|-XX:(Max|Initial|Min)HeapSize=.*|-XX:(Max|Initial|Min)RAMPercentage=.*");

    private final String mainClass;
    private final List<String> options = new ArrayList<>();
    private final List<String> args = new ArrayList<>();
    private String nativeAccess = ALL_UNNAMED;
    private String jit = JIT;
    private String classPath = System.getProperty("java.class.path");
    private int openFiles;

    private ChildJvm(String mainClass) {
        this.mainClass = mainClass;
    }

    /** A child running {@code mainClass}'s {@code main}. */
    public static ChildJvm main(String mainClass) {
        return new ChildJvm(mainClass);
    }

    /** A child running {@code mainClass}'s {@code main}. */
    public static ChildJvm main(Class<?> mainClass) {
        return new ChildJvm(mainClass.getName());
    }

    /** This JVM's own {@code java} binary. */
    public static String java() {
        return ProcessHandle.current().info().command().orElseThrow();
    }

    /** JVM options, after the defaults (a later option wins over an earlier one). */
    public ChildJvm options(String... jvmOptions) {
        return options(List.of(jvmOptions));
    }

    /** JVM options, after the defaults (a later option wins over an earlier one). */
    public ChildJvm options(List<String> jvmOptions) {
        options.addAll(jvmOptions);
        return this;
    }

    /** The modules given native access ({@code --enable-native-access=modules}), or none when {@code null}. */
    public ChildJvm nativeAccess(String modules) {
        nativeAccess = modules;
        return this;
    }

    /**
     * The JIT option instead of {@link #JIT}, or none when {@code null}: the JVM's own tiered compilation, for a child
     * that runs long enough to pay for C2, or whose garbage C2's escape analysis keeps down.
     */
    public ChildJvm jit(String option) {
        jit = option;
        return this;
    }

    /** Another class path than this JVM's. */
    public ChildJvm classPath(String path) {
        classPath = path;
        return this;
    }

    /** The main class's arguments. */
    public ChildJvm args(String... arguments) {
        return args(List.of(arguments));
    }

    /** The main class's arguments. */
    public ChildJvm args(List<String> arguments) {
        args.addAll(arguments);
        return this;
    }

    /**
     * Runs the JVM under {@code ulimit -n descriptors}, through bash, which then replaces itself with the JVM (the
     * process started is the JVM).
     */
    public ChildJvm openFileLimit(int descriptors) {
        openFiles = descriptors;
        return this;
    }

    /** The command line. */
    public List<String> command() {
        List<String> command = new ArrayList<>();
        if (openFiles > 0) {
            command.addAll(List.of("bash", "-c", "ulimit -n " + openFiles + " && exec \"$0\" \"$@\""));
        }
        command.add(java());
        if (nativeAccess != null) {
            command.add("--enable-native-access=" + nativeAccess);
        }
        if (jit != null && options.stream().noneMatch(o -> JIT_CHOICE.matcher(o).matches())) {
            command.add(jit);
        }
        if (options.stream().noneMatch(o -> GC_OR_HEAP_CHOICE.matcher(o).matches())) {
            command.add("-XX:+UseSerialGC");
        }
        command.addAll(options);
        if (classPath != null) {
            command.addAll(List.of("-cp", classPath));
        }
        command.add(mainClass);
        command.addAll(args);
        return command;
    }

    /** A process builder for {@link #command()}, to redirect its streams before starting it. */
    public ProcessBuilder builder() {
        return new ProcessBuilder(command());
    }

    /** Starts the child with its streams piped (see {@link ProcessBuilder#start()}). */
    public Process start() throws IOException {
        return builder().start();
    }
}
