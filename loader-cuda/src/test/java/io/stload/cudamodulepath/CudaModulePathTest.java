package io.stload.cudamodulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code io.stload.cuda} as a named module in a real child JVM: JCuda, whose jar declares no module name,
 * resolves as the automatic module {@code jcuda}, and its JNI library loads from the module path (device 0
 * then opens, or is refused for want of a driver or device, never for want of the bindings), with no warning
 * on stderr given native access for the two modules that need it.
 */
class CudaModulePathTest {
    @TempDir
    Path dir;

    @Test
    void jcudaResolvesAsAnAutomaticModuleAndItsNativeLibraryLoads() throws Exception {
        List<String> classPath = Arrays.asList(System.getProperty("java.class.path").split(File.pathSeparator));
        // Under Maven the classes are folders; packed for a GPU machine (bench/gpu-pack.sh) they are jars.
        // The modules and what they require (module-info.java): a new `requires` needs its jar named here.
        String modulePath = classPath.stream().filter(e -> !isTestClasses(e))
                .filter(e -> e.endsWith(File.separator + "classes") || e.contains("stload-core") || e.contains("stload-cuda")
                        || e.contains("jackson-core") || e.contains("HdrHistogram") || e.contains("jcuda"))
                .collect(Collectors.joining(File.pathSeparator));
        Optional<String> testClasses = classPath.stream().filter(CudaModulePathTest::isTestClasses).findFirst();
        // The JUnit console launcher (bench/gpu.sh) loads tests through its own loader, not java.class.path.
        Assumptions.assumeTrue(testClasses.isPresent(), "the test classes are not on java.class.path");
        Process p = ChildJvm.main(OpenDeviceOnModulePath.class).nativeAccess("io.stload.core,io.stload.cuda,jcuda")
                .options("-p", modulePath, "--add-modules", "io.stload.cuda").classPath(testClasses.get()).builder()
                .redirectOutput(dir.resolve("out").toFile()).redirectError(dir.resolve("err").toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "did not exit");
        List<String> out = Files.readAllLines(dir.resolve("out"));
        List<String> err = Files.readAllLines(dir.resolve("err"));
        assertEquals(0, p.exitValue(), out + " " + err);
        assertEquals(List.of("cuda=io.stload.cuda", "jcuda=jcuda"), out.subList(0, 2), out.toString());
        // Any failure of the bindings themselves ("cannot load the CUDA bindings", "the CUDA bindings (JCuda) have
        // no native library"): only a missing driver or device may stop it here.
        assertFalse(out.get(2).contains("CUDA bindings"), out.get(2));
        assertEquals(List.of(), err);
    }

    private static boolean isTestClasses(String entry) {
        return entry.endsWith("test-classes") || entry.endsWith("-tests.jar");
    }
}
