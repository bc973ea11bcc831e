package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.Convert;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stload get}, and {@code --tensors} on {@code plan} and {@code load}. */
class GetCommandTest {
    @TempDir
    static Path dir;

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();

    @BeforeAll
    static void write() throws IOException {
        byte[] emb = new byte[4 * 3 * 2];
        MemorySegment e = MemorySegment.ofArray(emb);
        for (int i = 0; i < 12; i++) {
            e.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Convert.f32ToBf16(i * 0.5f));
        }
        byte[] ids = new byte[3 * 4];
        MemorySegment.ofArray(ids).setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, 1, -7);
        SafetensorsWriter.write(dir.resolve("a.safetensors"), Map.of(), List.of(
                new TensorData("emb", DType.BF16, new long[] {4, 3}, emb),
                new TensorData("ids", DType.I32, new long[] {3}, ids)));
        SafetensorsWriter.write(dir.resolve("b.safetensors"), Map.of(), List.of(
                new TensorData("fp8", DType.F8_E4M3, new long[] {2}, new byte[] {0x38, (byte) 0xfe}),
                new TensorData("nibbles", DType.F4, new long[] {4}, new byte[] {0x12, 0x34}),
                new TensorData("stray", DType.U8, new long[] {1}, new byte[] {1})));
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"emb\":\"a.safetensors\","
                + "\"ids\":\"a.safetensors\",\"fp8\":\"b.safetensors\",\"nibbles\":\"b.safetensors\"}}");
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @Test
    void printsDtypeShapeAndFirstValues() {
        assertEquals(0, run("get", dir.toString(), "emb"), err.toString());
        assertEquals("emb: BF16[4, 3]\nfirst 8 of 12 values: 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5\n", out.toString());
        assertTrue(err.toString().contains("note: b.safetensors holds 1 tensor(s) its index does not map to it, "
                + "left out: `stray`"), err.toString());
    }

    @Test
    void aSliceShowsItsShapeAndOnlyItsValues() {
        assertEquals(0, run("get", dir.toString(), "emb", "--slice", "1:3, 1:", "--count", "10"), err.toString());
        assertEquals("emb: BF16[2, 2] = [4, 3][1:3, 1:]\nfirst 4 of 4 values: 2.0, 2.5, 3.5, 4.0\n", out.toString());
    }

    @Test
    void valuesInTheirOwnTypeOrConvertedToF32() {
        assertEquals(0, run("get", dir.toString(), "ids"));
        assertTrue(out.toString().endsWith("first 3 of 3 values: 0, -7, 0\n"), out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("get", dir.toString(), "ids", "--as", "f32"));
        assertEquals("ids: I32[3], as F32\nfirst 3 of 3 values: 0.0, -7.0, 0.0\n", out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("get", dir.toString(), "fp8", "--as", "f32"));
        assertEquals("fp8: F8_E4M3[2], as F32\nfirst 2 of 2 values: 1.0, -448.0\n", out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("get", dir.toString(), "nibbles"));
        assertTrue(out.toString().endsWith("first 2 of 2 bytes: 12, 34\n"), out.toString());
    }

    @Test
    void errorsAreOneLineWithTheirExitCodes() {
        expectError(2, "error: TensorNotFound: ", "get", dir.toString(), "nope");
        expectError(2, "error: InvalidSlice: ", "get", dir.toString(), "emb", "--slice", "0:x");
        expectError(2, "error: InvalidSlice: ", "get", dir.toString(), "emb", "--slice", "0:5");
        expectError(2, "error: InvalidSlice: ", "get", dir.toString(), "emb", "--slice", "0,0,0");
        expectError(2, "error: Usage: ", "get", dir.toString(), "emb", "--as", "f64");
        expectError(3, "error: Unsupported: ", "get", dir.toString(), "nibbles", "--as", "f32");
        expectError(4, "error: Io: ", "get", dir.resolve("missing").toString(), "emb");
    }

    @Test
    void tensorsFlagPlansAndLoadsOnlyTheSubset() {
        assertEquals(0, run("plan", dir.toString(), "--tensors", "e*", "--tensors", "re:i.s", "--json"), err.toString());
        assertTrue(out.toString().contains("\"tensors\":2,\"bytes\":36,\"read_bytes\":36"), out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("load", dir.toString(), "--tensors", "fp8", "--digest", "--json"), err.toString());
        assertTrue(out.toString().contains("\"tensors\":1,\"bytes\":2,\"bytes_read\":2"), out.toString());
        assertTrue(out.toString().contains("\"digests\":{\"fp8\":"), out.toString());
        expectError(2, "error: Usage: tensor pattern `model.*` matches no tensor", "load", dir.toString(), "--tensors", "model.*");
    }

    private void expectError(int code, String prefix, String... args) {
        err.getBuffer().setLength(0);
        assertEquals(code, run(args), err.toString());
        List<String> lines = err.toString().lines().filter(l -> !l.startsWith("stload: note:")).toList();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.get(0).startsWith(prefix), err.toString());
    }
}
