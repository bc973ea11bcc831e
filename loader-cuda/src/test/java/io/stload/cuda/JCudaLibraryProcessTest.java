package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ranks started together, as on a node, each load JCuda's native library through {@link JCudaLibrary}: real
 * processes, against an empty folder and against a truncated leftover. None may crash, and JCuda's own
 * extraction into java.io.tmpdir must never run.
 */
class JCudaLibraryProcessTest {
    private static final int PROCESSES = 12;

    @TempDir
    Path root;

    @Test
    void manyProcessesStartingTogetherAgainstAnEmptyFolderAllLoadIt() throws Exception {
        Path dir = root.resolve("jcuda");
        runTogether(dir);
        assertArrayEquals(library(), Files.readAllBytes(dir.resolve(JCudaLibrary.fileName())));
    }

    @Test
    void aTruncatedLeftoverIsReplacedNotLoaded() throws Exception {
        Path dir = Files.createDirectories(root.resolve("jcuda"));
        byte[] whole = library();
        byte[] truncated = Arrays.copyOf(whole, whole.length / 3);
        Files.write(dir.resolve(JCudaLibrary.fileName()), truncated);
        // Where JCuda's own loader would look, and load it (SIGBUS in the dynamic loader).
        Path jcudasOwn = Files.write(Files.createDirectories(root.resolve("tmp")).resolve(JCudaLibrary.fileName()),
                truncated);
        runTogether(dir);
        assertArrayEquals(truncated, Files.readAllBytes(jcudasOwn), "never touched");
        assertArrayEquals(whole, Files.readAllBytes(dir.resolve(JCudaLibrary.fileName())));
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(List.of(JCudaLibrary.fileName()), left.map(p -> p.getFileName().toString()).toList(),
                    "no temporary file is left behind");
        }
    }

    @Test
    void aLoadFailureOnANoexecFolderIsOneLineNamingTheFolderAndTheProperty() {
        String line = JCudaLibrary.loadFailure(Path.of("/tmp/stload-x/jcuda-12.6.0"), new UnsatisfiedLinkError(
                "/tmp/stload-x/jcuda-12.6.0/libJCudaRuntime.so: failed to map segment from shared object\nmore"));
        assertEquals(1, line.lines().count(), line);
        assertTrue(line.contains("/tmp/stload-x/jcuda-12.6.0 may be on a noexec filesystem"), line);
        assertTrue(line.contains("-D" + JCudaLibrary.DIR_PROPERTY + "="), line);
    }

    @Test
    void aFolderThatIsASymlinkIsRefusedAndANewOneIsTheUsersAlone() throws IOException {
        Path elsewhere = Files.createDirectory(root.resolve("elsewhere"));
        Path link = Files.createSymbolicLink(root.resolve("link"), elsewhere);
        StloadException e = assertThrows(StloadException.class, () -> JCudaLibrary.extract(link));
        assertEquals(ErrorKind.NoDevice, e.kind());
        assertTrue(e.getMessage().contains("not a directory") && e.getMessage().contains(JCudaLibrary.DIR_PROPERTY),
                e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        Path fresh = root.resolve("fresh").resolve("jcuda");
        JCudaLibrary.extract(fresh);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh)));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh.getParent())));
    }

    @Test
    void firstLineIsTheRootCausesFirstLine() {
        Throwable wrapped = new ExceptionInInitializerError(new UnsatisfiedLinkError("Error while loading native "
                + "library \"JCudaRuntime\"\nOperating system name: Linux\n---(start of nested stack traces)---"));
        assertEquals("Error while loading native library \"JCudaRuntime\"", JCudaLibrary.firstLine(wrapped));
        assertEquals("ExceptionInInitializerError", JCudaLibrary.firstLine(new ExceptionInInitializerError()));
        // A file system's error whose message is only its path says what happened to it.
        assertEquals("NoSuchFile: /proc/nope", JCudaLibrary.firstLine(new java.io.IOException(
                new java.nio.file.NoSuchFileException("/proc/nope"))));
    }

    private void runTogether(Path dir) throws IOException, InterruptedException {
        Path tmp = Files.createDirectories(root.resolve("tmp"));
        List<Process> processes = new ArrayList<>();
        for (int i = 0; i < PROCESSES; i++) {
            processes.add(ChildJvm.main(JCudaLoadMain.class).options("-D" + JCudaLibrary.DIR_PROPERTY + "=" + dir,
                    "-Djava.io.tmpdir=" + tmp, "-XX:-CreateCoredumpOnCrash",
                    "-XX:ErrorFile=" + root.resolve("hs_err_" + i + ".log")).builder()
                    .redirectErrorStream(true).redirectOutput(root.resolve("p" + i + ".out").toFile()).start());
        }
        for (int i = 0; i < PROCESSES; i++) {
            Process p = processes.get(i);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                processes.forEach(Process::destroyForcibly);
                throw new AssertionError("process " + i + " did not finish in 120 s");
            }
            String out = Files.readString(root.resolve("p" + i + ".out"));
            assertEquals(0, p.exitValue(), "process " + i + ":\n" + out);
            assertTrue(out.contains("cudaGetDeviceCount rc="), "process " + i + ":\n" + out);
        }
        try (Stream<Path> left = Files.list(tmp)) {
            assertTrue(left.allMatch(p -> p.getFileName().toString().equals(JCudaLibrary.fileName())),
                    "JCuda's own extraction into java.io.tmpdir never ran");
        }
    }

    private static byte[] library() throws IOException {
        try (InputStream in = JCudaLibrary.class.getResourceAsStream("/lib/" + JCudaLibrary.fileName())) {
            return in.readAllBytes();
        }
    }
}
