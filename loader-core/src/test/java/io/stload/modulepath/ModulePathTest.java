package io.stload.modulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The library as a named module, in a real child JVM: {@code io.stload.core} and the two modules it requires
 * on the module path, a program on the class path. The suite itself runs on the class path (see docs/modules.md,
 * "Native access"); this is where the module descriptor and the native-access check are exercised.
 */
class ModulePathTest {
    @TempDir
    Path dir;

    @Test
    void loadsWithOnlyTheModulesFlagAndNoRestrictedMethodWarning() throws Exception {
        Run run = run("--enable-native-access=io.stload.core");
        assertEquals(0, run.exit, run.toString());
        assertEquals(List.of("module=io.stload.core", "native=yes", "bytes=equal"), run.out, run.toString());
        assertEquals(List.of(), run.err, "nothing on stderr: " + run);
    }

    @Test
    void withoutTheFlagFallsBackAndTheReasonNamesTheExactFlag() throws Exception {
        Run run = run();
        assertEquals(0, run.exit, run.toString());
        assertEquals("module=io.stload.core", run.out.get(0), run.toString());
        assertTrue(run.out.get(1).contains("run java with --enable-native-access=io.stload.core"), run.toString());
        assertEquals("bytes=equal", run.out.get(2), run.toString());
        // The binding was never attempted, so the JDK printed none of its restricted-method warnings.
        assertFalse(String.join("\n", run.err).contains("restricted method"), run.toString());
    }

    private record Run(int exit, List<String> out, List<String> err) {
    }

    private Run run(String... flags) throws IOException, InterruptedException {
        List<String> classPath = Arrays.asList(System.getProperty("java.class.path").split(File.pathSeparator));
        // The module and what it requires (module-info.java): a new `requires` needs its jar named here.
        String modulePath = classPath.stream()
                .filter(e -> e.endsWith(File.separator + "classes") || e.contains("jackson-core") || e.contains("HdrHistogram"))
                .collect(Collectors.joining(File.pathSeparator));
        String testClasses = classPath.stream().filter(e -> e.endsWith("test-classes")).findFirst().orElseThrow();
        // Native access only as the flags give it: its absence is what one case is about.
        Process p = ChildJvm.main(LoadOnModulePath.class).nativeAccess(null).options(flags)
                .options("-p", modulePath, "--add-modules", "io.stload.core").classPath(testClasses).args(dir.toString())
                .builder().redirectOutput(dir.resolve("out").toFile())
                .redirectError(dir.resolve("err").toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
        return new Run(p.exitValue(), Files.readAllLines(dir.resolve("out")), Files.readAllLines(dir.resolve("err")));
    }
}
