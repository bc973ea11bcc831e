package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI fed what a hostile or careless user would give it: FIFOs, names that try to forge output lines or
 * drive the terminal, files it may not read (as {@code nobody}), and folders it cannot list. Every case ends
 * in one line and an exit code, never a hang (a failure here is a timeout on a separate thread) or exit 70.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostileInputCommandTest {
    @TempDir
    Path dir;
    final StringWriter out = new StringWriter();
    final StringWriter err = new StringWriter();

    private int run(String... args) {
        out.getBuffer().setLength(0);
        err.getBuffer().setLength(0);
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    private Path mkfifo(String name) throws IOException, InterruptedException {
        Path p = dir.resolve(name);
        assertEquals(0, new ProcessBuilder("mkfifo", p.toString()).inheritIO().start().waitFor());
        return p;
    }

    private Path model(String name, String tensor) throws IOException {
        Path m = dir.resolve(name);
        SafetensorsWriter.write(m, Map.of(), List.of(new TensorData(tensor, DType.F32, new long[] {2}, new byte[8])));
        return m;
    }

    @Test
    void aFifoAsPathOrPartitionFileIsOneLineAndExitFour() throws Exception {
        Path fifo = mkfifo("model.safetensors");
        for (String command : List.of("inspect", "plan", "load", "verify")) {
            int code = run(command, fifo.toString());
            assertEquals(command.equals("verify") ? 1 : 4, code, command + ": " + err + out);
            String said = command.equals("verify") ? out.toString().lines().findFirst().orElse("") : err.toString().strip();
            assertTrue(said.contains("is a FIFO (named pipe), not a regular file"), command + ": " + said);
        }
        Path model = model("real.safetensors", "w");
        assertEquals(4, run("load", model.toString(), "--world-size", "2", "--partition", mkfifo("rules.json").toString()),
                err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().contains("FIFO"), err.toString());
    }

    @Test
    void aFifoAsACheckpointsIndexOrShardIsOneLineAndExitFour() throws Exception {
        Files.createDirectory(dir.resolve("a"));
        mkfifo("a/model.safetensors.index.json");
        Files.createDirectory(dir.resolve("b"));
        Files.writeString(dir.resolve("b/model.safetensors.index.json"), "{\"weight_map\": {\"w\": \"s.safetensors\"}}");
        mkfifo("b/s.safetensors");
        for (String ckpt : List.of("a", "b")) {
            assertEquals(4, run("inspect", dir.resolve(ckpt).toString()), err.toString());
            assertEquals(1, err.toString().lines().count(), err.toString());
            assertTrue(err.toString().startsWith("error: Io: ") && err.toString().contains("is a FIFO (named pipe)"),
                    err.toString());
        }
    }

    @Test
    void aNulInAShardNameIsOneLineAndExitThree() throws Exception {
        model("a.safetensors", "w");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"w\": \"a\\u0000.safetensors\"}}");
        for (String command : List.of("inspect", "load", "plan")) {
            assertEquals(3, run(command, dir.toString()), command + ": " + err);
            assertEquals(1, err.toString().lines().count(), err.toString());
            assertTrue(err.toString().startsWith("error: InvalidIndex: ")
                    && err.toString().contains("`a\\x00.safetensors`")
                    && err.toString().indexOf('\0') < 0, err.toString());
        }
    }

    @Test
    void namesThatWouldForgeLinesOrDriveTheTerminalAreEscaped() throws Exception {
        String forged = "w\nerror: Io: /etc/passwd: fake second line";
        String coloured = "\u001b[31mred\u001b[0m";
        Path m = dir.resolve("evil.safetensors");
        SafetensorsWriter.write(m, Map.of(), List.of(new TensorData(forged, DType.F32, new long[] {2}, new byte[8]),
                new TensorData(coloured, DType.F32, new long[] {1}, new byte[4])));
        assertEquals(0, run("inspect", m.toString()));
        assertFalse(out.toString().contains("\u001b"), out.toString());
        assertTrue(out.toString().lines().noneMatch(l -> l.startsWith("error:")), out.toString());
        assertTrue(out.toString().contains("w\\nerror: Io") && out.toString().contains("\\x1b[31mred"), out.toString());

        // The same name in an error: one stderr line, escaped.
        Path bad = dir.resolve("bad.safetensors");
        byte[] header = ("{\"" + forged.replace("\n", "\\n") + "\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}")
                .getBytes(StandardCharsets.UTF_8);
        java.nio.ByteBuffer file = java.nio.ByteBuffer.allocate(8 + header.length + 8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        Files.write(bad, file.putLong(header.length).put(header).array());
        assertEquals(3, run("inspect", bad.toString()));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().contains("w\\nerror: Io: /etc/passwd"), err.toString());
    }

    /** JSON escapes C0 itself; C1 controls (U+009B: a one-char CSI), bidi overrides and separators are escaped too. */
    @Test
    void jsonOutputEscapesWhatTextOutputEscapes() throws Exception {
        String name = "we\u009b31mird\u202etxt.exe\u2028\u007f";
        Path m = dir.resolve("c1.safetensors");
        SafetensorsWriter.write(m, Map.of("note", name), List.of(new TensorData(name, DType.F32, new long[] {1},
                new byte[4])));
        assertEquals(0, run("inspect", "--json", m.toString()), err.toString());
        assertTrue(out.toString().chars().noneMatch(c -> c >= 0x7F && io.stload.Printable.unsafe(c)), out.toString());
        assertTrue(out.toString().contains("we\\u009b31mird\\u202etxt.exe\\u2028\\u007f"), out.toString());
    }

    @Test
    void theNoteOnTensorsAnIndexLeavesOutEscapesTheirNames() throws Exception {
        String forged = "\u001b[31mRED\nerror: forged line";
        SafetensorsWriter.write(dir.resolve("m2.safetensors"), Map.of(), List.of(
                new TensorData("a", DType.U8, new long[] {4}, new byte[4]),
                new TensorData(forged, DType.U8, new long[] {1}, new byte[1])));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"m2.safetensors\"}}");
        assertEquals(0, run("inspect", dir.toString()), err.toString());
        assertEquals(List.of("stload: note: m2.safetensors holds 1 tensor(s) its index does not map to it, left out: "
                + "`\\x1b[31mRED\\nerror: forged line`"), err.toString().lines().toList());
    }

    @Test
    void anEmptyOrNulPathIsAUsageErrorForEveryCommandThatTakesOne() throws Exception {
        Path model = model("m.safetensors", "w");
        for (String path : List.of("", "m\0.safetensors")) {
            for (List<String> args : List.of(List.of("inspect", path), List.of("get", path, "w"), List.of("plan", path),
                    List.of("load", path), List.of("load", path, "--world-size", "2"), List.of("verify", path),
                    List.of("plan", model.toString(), "--world-size", "2", "--partition", path))) {
                assertEquals(ExitCodes.USAGE, run(args.toArray(String[]::new)), args + ": " + err + out);
                assertEquals(1, err.toString().lines().count(), args + ": " + err);
            }
        }
    }

    @Test
    void verifyOfProcIsNotAnInternalError() {
        int code = run("verify", "/proc");
        assertNotEquals(ExitCodes.UNEXPECTED, code, err.toString());
        assertTrue(err.toString().lines().count() <= 1, err.toString());
    }

    @Test
    void asNobodyPermissionDeniedSaysSoAndAnUnreadableSubfolderIsOneLine(@TempDir Path cp) throws Exception {
        assumeTrue(AsNobody.unavailable().isEmpty(), AsNobody.unavailable().orElse(""));
        String classPath = AsNobody.copyClassPath(cp);
        Path shared = Files.createDirectory(dir.resolve("shared"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path secret = model("shared/secret.safetensors", "w");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        Path sub = Files.createDirectory(shared.resolve("private"));
        Files.setPosixFilePermissions(sub, PosixFilePermissions.fromString("rwx------"));

        Process p = AsNobody.cli(classPath, dir.resolve("out"), dir.resolve("err"), "inspect", secret.toString());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        List<String> stderr = Files.readAllLines(dir.resolve("err"));
        assertEquals(4, p.exitValue(), stderr.toString());
        assertEquals(1, stderr.size(), stderr.toString());
        assertTrue(stderr.getFirst().contains("permission denied"), stderr.toString());

        // Readable now, with an index: verify then looks for the files the index leaves out, in every subfolder. One
        // it cannot list does not keep the checkpoint from loading, so it is a note, not a problem.
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-r--r--"));
        Files.writeString(shared.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"w\": \"secret.safetensors\"}}");
        Files.copy(secret, shared.resolve("zz-extra.safetensors")); // after the folder it cannot list, still found
        p = AsNobody.cli(classPath, dir.resolve("out"), dir.resolve("err"), "verify", shared.toString());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        stderr = Files.readAllLines(dir.resolve("err"));
        List<String> stdout = Files.readAllLines(dir.resolve("out"));
        assertEquals(0, p.exitValue(), stderr + " " + stdout);
        assertEquals(List.of(), stderr);
        assertEquals(List.of("note: " + sub + ": cannot list directory: permission denied; files the index does not name"
                + " were not looked for there", "note: zz-extra.safetensors is not named by model.safetensors.index.json;"
                + " a load does not read it, and it was not checked", "ok: no problems found"), stdout);
    }
}
