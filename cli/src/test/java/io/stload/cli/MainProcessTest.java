package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import io.stload.cuda.CudaCopyEngine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The real entry point in its own JVM: {@code System.exit} carries the code and stderr holds exactly one
 * line, with no stack trace or JVM warning around it. Runs on this test's own java and class path, since
 * the shaded jar is only built after the tests.
 */
class MainProcessTest {
    @TempDir
    Path dir;

    private Process cli(String... args) throws IOException {
        return cli(List.of(), args);
    }

    private Process cli(List<String> jvmOptions, String... args) throws IOException {
        return ChildJvm.main(Main.class).options(jvmOptions).args(args).builder()
                .redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile())
                .start();
    }

    /**
     * In the C locale (a container with no LANG), the JVM's own streams write each letter outside ASCII as {@code ?},
     * and take file names as ASCII: the CLI writes UTF-8 whatever the locale, so its JSON names tensors as the file
     * does, and a path the JVM cannot take is refused saying why.
     */
    @Test
    void inTheCLocaleOutputIsUtf8AndAPathItCannotTakeSaysWhy() throws IOException, InterruptedException {
        byte[] header = "{\"h\u00e9llo.w\u00ebight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
                .getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer file = java.nio.ByteBuffer.allocate(8 + header.length + 4)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(header.length).put(header);
        Path named = Files.write(dir.resolve("u.safetensors"), file.array());
        assertEquals(0, inTheCLocale("inspect", named.toString(), "--json").waitFor());
        assertTrue(Files.readString(dir.resolve("stdout"), StandardCharsets.UTF_8)
                .contains("\"name\":\"h\u00e9llo.w\u00ebight\""), Files.readString(dir.resolve("stdout")));

        Path folder = Files.createDirectory(dir.resolve("mod\u00e8le"));
        Process p = inTheCLocale("inspect", Files.copy(named, folder.resolve("u.safetensors")).toString());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).contains("cannot name a checkpoint") && stderr.get(0).contains("takes file names as")
                && stderr.get(0).contains("LC_CTYPE=C.UTF-8"), stderr.get(0));
    }

    /**
     * A hardened pod's read-only root leaves no temporary folder: {@code serve} (its token file) and {@code demo} (its
     * checkpoint) say so in one line and what to do, and leave nothing behind.
     */
    @Test
    void withNoWritableTemporaryFolderServeAndDemoSayWhatToDo() throws IOException, InterruptedException {
        Path ckpt = dir.resolve("ckpt");
        assertEquals(0, Main.run(new String[] {"gen", ckpt.toString(), "--size", "1MiB"},
                new java.io.PrintWriter(java.io.Writer.nullWriter()), new java.io.PrintWriter(java.io.Writer.nullWriter())));
        // A folder nobody may make files in, root included (a folder that does not exist would make the JVM warn).
        List<String> noTmp = List.of("-Djava.io.tmpdir=/proc");
        Process serve = cli(noTmp, "serve", ckpt.toString(), "--port", "0");
        assertTrue(serve.waitFor(60, TimeUnit.SECONDS), "serve did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(4, serve.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: Io: cannot write the reload token file in ")
                && stderr.get(0).contains("--token-file"), stderr.get(0));

        Process demo = cli(noTmp, "demo", "--size", "1MiB");
        assertTrue(demo.waitFor(60, TimeUnit.SECONDS), "demo did not exit");
        stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(4, demo.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: Io: cannot make the demo's folder in ")
                && stderr.get(0).contains("-Djava.io.tmpdir"), stderr.get(0));
    }

    private Process inTheCLocale(String... args) throws IOException {
        ProcessBuilder b = ChildJvm.main(Main.class).args(args).builder()
                .redirectOutput(dir.resolve("stdout").toFile()).redirectError(dir.resolve("stderr").toFile());
        b.environment().keySet().removeIf(k -> k.equals("LANG") || k.startsWith("LC_"));
        b.environment().put("LC_ALL", "C");
        return b.start();
    }

    @Test
    void invalidFileExitsWithThreeAndOneLineOnStderr() throws IOException, InterruptedException {
        Path bad = Files.write(dir.resolve("bad.safetensors"), new byte[] {1, 2, 3});
        Process p = cli("inspect", bad.toString());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(3, p.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: HeaderTooSmall: " + bad + ": "), stderr.get(0));
        assertEquals(0, Files.size(dir.resolve("stdout")));
    }

    @Test
    void aFlagValueTheLibraryWouldRefuseIsOneUsageLineAndExitTwo() throws IOException, InterruptedException {
        Path ckpt = dir.resolve("ckpt");
        assertEquals(0, Main.run(new String[] {"gen", ckpt.toString(), "--size", "1MiB"},
                new java.io.PrintWriter(java.io.Writer.nullWriter()), new java.io.PrintWriter(java.io.Writer.nullWriter())));
        Process p = cli("load", ckpt.toString(), "--sink", "stream", "--memory-budget", "0");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), String.join("\n", stderr));
        assertEquals(List.of("error: Usage: --memory-budget: must be at least 4096 bytes, not 0"), stderr);
    }

    @Test
    void runningOutOfHeapIsOneLineAndExitFour() throws IOException, InterruptedException {
        // A valid header of 24 MB (one metadata value) needs more than a 16 MB heap to read.
        String header = "{\"__metadata__\":{\"k\":\"" + "x".repeat(24 << 20) + "\"}}";
        byte[] json = header.getBytes(StandardCharsets.US_ASCII);
        java.nio.ByteBuffer file = java.nio.ByteBuffer.allocate(8 + json.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        Path big = Files.write(dir.resolve("big.safetensors"), file.putLong(json.length).put(json).array());
        Process p = cli(List.of("-Xmx16m"), "inspect", big.toString());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(4, p.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: OutOfMemory: the JVM ran out of memory"), stderr.get(0));
    }

    /**
     * {@code get} reads a lazy view of the file's mapping; the file is truncated (a download replacing it in place)
     * once the CLI has mapped it, while it reads the values: one Io line naming the file, exit 4, no JVM error trace.
     */
    @ParameterizedTest
    @ValueSource(strings = {"raw", "f32"})
    void getOfAFileTruncatedWhileItsValuesAreReadIsOneIoLineAndExitFour(String as)
            throws IOException, InterruptedException {
        Path big = dir.resolve("big.safetensors");
        long n = 64L << 20;
        byte[] json = ("{\"big\":{\"dtype\":\"U8\",\"shape\":[" + n + "],\"data_offsets\":[0," + n + "]}}")
                .getBytes(StandardCharsets.US_ASCII);
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            f.write(json);
            f.setLength(8 + json.length + n); // sparse: reads as zeros
        }
        List<String> args = new java.util.ArrayList<>(List.of("get", big.toString(), "big", "--count", "5000000"));
        if (as.equals("f32")) {
            args.addAll(List.of("--as", "f32"));
        }
        Process p = cli(args.toArray(String[]::new));
        String real = big.toRealPath().toString();
        Path maps = Path.of("/proc", Long.toString(p.pid()), "maps");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        boolean mapped = false;
        while (!mapped && p.isAlive() && System.nanoTime() < deadline) {
            try {
                mapped = Files.readString(maps).contains(real);
            } catch (IOException exited) {
                break;
            }
            // A mapping has no event to wait on; a spin here would take a core from the starting JVM.
            p.waitFor(1, TimeUnit.MILLISECONDS);
        }
        assertTrue(mapped, "the CLI never mapped the file");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(big,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(100_000);
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(4, p.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: Io: " + real + ": file was truncated"), stderr.get(0));
    }

    @Test
    void loadOnACudaDeviceWithoutOneExitsWithFourAndOneLineNamingTheCause() throws IOException, InterruptedException {
        assumeTrue(CudaCopyEngine.unavailableReason().isPresent(), "a CUDA device is present here");
        Path ckpt = dir.resolve("ckpt");
        assertEquals(0, Main.run(new String[] {"gen", ckpt.toString(), "--size", "1MiB"},
                new java.io.PrintWriter(java.io.Writer.nullWriter()), new java.io.PrintWriter(java.io.Writer.nullWriter())));
        Process p = cli("load", ckpt.toString(), "--device", "cuda");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the CLI did not exit");
        List<String> stderr = Files.readAllLines(dir.resolve("stderr"), StandardCharsets.UTF_8);
        assertEquals(4, p.exitValue(), String.join("\n", stderr));
        assertEquals(1, stderr.size(), String.join("\n", stderr));
        assertTrue(stderr.get(0).startsWith("error: NoDevice: ") || stderr.get(0).startsWith("error: OutOfMemory: "),
                stderr.get(0));
    }
}
