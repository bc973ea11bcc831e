package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stload inspect}: what it prints for good and bad checkpoints, and the exit codes it returns. */
class InspectCommandTest {
    @TempDir
    Path dir;
    Path model;
    final StringWriter out = new StringWriter();
    final StringWriter err = new StringWriter();

    @BeforeEach
    void writeModel() throws IOException {
        model = dir.resolve("model.safetensors");
        SafetensorsWriter.write(model, Map.of("format", "pt"), List.of(
                new TensorData("embed", DType.BF16, new long[] {4, 2}, new byte[16]),
                new TensorData("norm", DType.F32, new long[] {1024}, new byte[4096])));
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    private List<String> errLines() {
        return err.toString().lines().toList();
    }

    @Test
    void tableListsEveryTensorAndTheTotals() {
        assertEquals(0, run("inspect", model.toString()));
        List<String> lines = out.toString().lines().toList();
        assertEquals(List.of("name", "dtype", "shape", "bytes", "file"), List.of(lines.get(0).split(" +")));
        assertTrue(lines.get(1).matches("embed +BF16 +\\[4, 2] +16 B +.*model\\.safetensors"), lines.get(1));
        assertTrue(lines.get(2).matches("norm +F32 +\\[1024] +4\\.0 KiB +.*model\\.safetensors"), lines.get(2));
        assertEquals("2 tensors, 4.0 KiB in 1 file(s)", lines.get(3));
        assertEquals(4, lines.size());
        assertEquals("", err.toString());
    }

    @Test
    void jsonIsOneObjectWithFilesMetadataTensorsAndTotal() {
        assertEquals(0, run("inspect", "--json", model.toString()));
        Map<String, Object> json = parse(out.toString());
        long fileSize = model.toFile().length();

        List<Object> files = list(json.get("files"));
        assertEquals(1, files.size());
        Map<String, Object> file = map(files.get(0));
        assertEquals(model.toString(), file.get("path"));
        assertEquals(fileSize, file.get("bytes"));
        assertEquals(8 + (long) file.get("header_bytes"), file.get("data_start"));

        assertEquals(Map.of(model.toString(), Map.of("format", "pt")), json.get("metadata"));

        List<Object> tensors = list(json.get("tensors"));
        assertEquals(2, tensors.size());
        Map<String, Object> embed = map(tensors.get(0));
        assertEquals("embed", embed.get("name"));
        assertEquals("BF16", embed.get("dtype"));
        assertEquals(List.of(4L, 2L), embed.get("shape"));
        assertEquals(List.of(0L, 16L), embed.get("data_offsets"));
        assertEquals(16L, embed.get("bytes"));
        assertEquals(model.toString(), embed.get("file"));
        assertEquals(List.of(16L, 4112L), map(tensors.get(1)).get("data_offsets"));

        assertEquals(4112L, json.get("total_bytes"));
        assertEquals(fileSize, 4112L + (long) file.get("data_start"));
    }

    @Test
    void jsonOfAnUnindexedDirectoryNamesFilesRelativeToIt() throws IOException {
        Files.move(model, dir.resolve("a.safetensors"));
        SafetensorsWriter.write(dir.resolve("b.safetensors"), null,
                List.of(new TensorData("z", DType.U64, new long[] {0, 3}, new byte[0])));
        assertEquals(0, run("inspect", "--json", dir.toString()));
        Map<String, Object> json = parse(out.toString());
        assertEquals(List.of("a.safetensors", "b.safetensors"), list(json.get("files")).stream().map(f -> map(f).get("path")).toList());
        assertTrue(map(json.get("metadata")).containsKey("b.safetensors"));
        assertNull(map(json.get("metadata")).get("b.safetensors"));
        assertEquals("b.safetensors", map(list(json.get("tensors")).get(2)).get("file"));
    }

    @Test
    void invalidFileIsOneErrorLineWithKindFileAndMessage() throws IOException {
        Path bad = Files.write(dir.resolve("bad.safetensors"), new byte[] {2, 0, 0, 0, 0, 0, 0, 0, '{', '}', 1});
        assertEquals(3, run("inspect", bad.toString()));
        assertEquals(1, errLines().size(), err.toString());
        assertTrue(errLines().get(0).startsWith("error: MetadataIncompleteBuffer: " + bad + ": "), err.toString());
        assertEquals("", out.toString());
    }

    @Test
    void missingPathIsAnIoError() {
        Path missing = dir.resolve("missing.safetensors");
        assertEquals(4, run("inspect", missing.toString()));
        assertEquals(List.of("error: Io: " + missing + ": no such file or directory"), errLines());
    }

    @Test
    void unknownFlagIsOneUsageLine() {
        assertEquals(2, run("inspect", "--no-such-flag", model.toString()));
        assertEquals(1, errLines().size(), err.toString());
        assertTrue(errLines().get(0).startsWith("error: Usage: "), err.toString());
    }

    @Test
    void missingArgumentIsAUsageError() {
        assertEquals(2, run("inspect"));
        assertEquals(1, errLines().size(), err.toString());
    }

    private static Map<String, Object> parse(String text) {
        return JsonReplies.parse(text);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o) {
        return (List<Object>) o;
    }
}
