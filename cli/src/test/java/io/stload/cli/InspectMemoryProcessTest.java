package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What {@code inspect} holds for a header of many tensors, bounded the deterministic way: it must finish in a
 * heap of five times the header's size. The parsed header itself takes about four (the names, the tensor table
 * and its maps); the table form used to hold every row's cells on top of it, which needs more than five, and
 * ran out of memory here. The serial collector keeps the bound free of heap-region fragmentation, so the test
 * measures what is held rather than how a concurrent collector packs it.
 */
@Tag("slow")
class InspectMemoryProcessTest {
    /** Zero-size tensors: a header of about 21 MiB and no data, like the million-tensor file, scaled down. */
    private static final int TENSORS = 300_000;

    @TempDir
    static Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"table", "json"})
    void inspectFitsInAHeapOfFiveTimesTheHeader(String form) throws IOException, InterruptedException {
        Path file = dir.resolve("many.safetensors");
        if (!Files.exists(file)) {
            write(file);
        }
        long header = Files.size(file) - 8;
        ChildJvm inspect = ChildJvm.main(Main.class).options("-XX:+UseSerialGC", "-Xmx" + (5 * header >> 20) + "m")
                .args("inspect", file.toString());
        if (form.equals("json")) {
            inspect.args("--json");
        }
        Path out = dir.resolve(form + ".out");
        Process p = inspect.builder().redirectOutput(out.toFile())
                .redirectError(dir.resolve(form + ".err").toFile()).start();
        try {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "inspect did not exit");
        } finally {
            p.destroyForcibly();
        }
        String err = Files.readString(dir.resolve(form + ".err"));
        assertEquals(0, p.exitValue(), err);
        assertEquals("", err);
        if (form.equals("table")) {
            try (var lines = Files.lines(out)) {
                assertEquals(TENSORS + 2, lines.count()); // the column names, a row a tensor, the totals
            }
        } else {
            assertTrue(Files.size(out) > header, "the JSON lists every tensor");
        }
    }

    private static void write(Path file) throws IOException {
        StringBuilder json = new StringBuilder(TENSORS * 72).append('{');
        for (int i = 0; i < TENSORS; i++) {
            json.append(i == 0 ? "" : ",").append(String.format("\"model.layers.%07d.w\"", i))
                    .append(":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        }
        json.append('}');
        while (json.length() % 8 != 0) {
            json.append(' ');
        }
        byte[] header = json.toString().getBytes(StandardCharsets.US_ASCII);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
            ch.write(ByteBuffer.wrap(header));
        }
    }
}
