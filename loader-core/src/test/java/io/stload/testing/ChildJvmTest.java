package io.stload.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChildJvmTest {
    @Test
    void theDefaultsComeBeforeTheCallersOptionsAndTheClassPathAfter() {
        List<String> command = ChildJvm.main("a.Main").options("-Dx=1").classPath("cp").args("b", "c").command();
        assertEquals(List.of(ChildJvm.java(), "--enable-native-access=ALL-UNNAMED", ChildJvm.JIT, "-XX:+UseSerialGC",
                "-Dx=1", "-cp", "cp", "a.Main", "b", "c"), command);
    }

    @Test
    void aCallersCollectorOrHeapReplacesTheSerialCollectorAndItsJitTheDefaultOne() {
        for (String choice : List.of("-XX:+UseG1GC", "-Xmx16m", "-Xmn32m", "-XX:MaxHeapSize=1g")) {
            assertEquals(List.of(ChildJvm.java(), "--enable-native-access=ALL-UNNAMED", ChildJvm.JIT, choice, "-cp",
                    "cp", "a.Main"), ChildJvm.main("a.Main").options(choice).classPath("cp").command(), choice);
        }
        assertEquals(List.of(ChildJvm.java(), "-XX:+UseSerialGC", "-XX:-TieredCompilation", "-cp",
                "cp", "a.Main"), ChildJvm.main("a.Main").nativeAccess(null).options("-XX:-TieredCompilation")
                .classPath("cp").command());
        assertEquals(List.of(ChildJvm.java(), "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", "cp", "a.Main"), ChildJvm.main("a.Main").jit(null).classPath("cp").command());
    }

    @Test
    void anOpenFileLimitRunsTheJvmThroughBashWhichExecsIt() {
        List<String> command = ChildJvm.main("a.Main").nativeAccess("m").classPath("cp").openFileLimit(64).command();
        assertEquals(List.of("bash", "-c", "ulimit -n 64 && exec \"$0\" \"$@\"", ChildJvm.java(),
                "--enable-native-access=m", ChildJvm.JIT, "-XX:+UseSerialGC", "-cp", "cp", "a.Main"),
                command);
    }
}
