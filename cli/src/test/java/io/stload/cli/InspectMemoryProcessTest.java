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
        // The JVM's own tiered compilation, as the launcher runs inspect: the table form runs for seconds at the edge
        // of its heap, where C1 alone (no escape analysis) makes garbage enough for half as many full collections again.
        ChildJvm inspect = ChildJvm.main(Main.class).jit(null)
                .options("-XX:+UseSerialGC", "-Xmx" + (5 * header >> 20) + "m").args("inspect", file.toString());
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

    /**
     * The header, written as bytes: the entries differ only in their seven-digit numbers, so each is one template's
     * bytes with its digits put in ({@code String.format} for each of them took seconds in a test JVM).
     */
    private static void write(Path file) throws IOException {
        byte[] entry = ",\"model.layers.0000000.w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}"
                .getBytes(StandardCharsets.US_ASCII);
        int lastDigit = ",\"model.layers.0000000".length() - 1;
        int length = 1 + TENSORS * entry.length; // '{', the entries (the first without its comma), '}'
        ByteBuffer header = ByteBuffer.allocate(8 + (length + 7 & ~7)).order(ByteOrder.LITTLE_ENDIAN);
        header.putLong(header.capacity() - 8).put((byte) '{');
        for (int i = 0; i < TENSORS; i++) {
            int at = header.position() - (i == 0 ? 1 : 0);
            header.put(entry, i == 0 ? 1 : 0, entry.length - (i == 0 ? 1 : 0));
            for (int d = 0, n = i; d < 7; d++, n /= 10) {
                header.put(at + lastDigit - d, (byte) ('0' + n % 10));
            }
        }
        header.put((byte) '}');
        while (header.hasRemaining()) {
            header.put((byte) ' ');
        }
        Files.write(file, header.array(), StandardOpenOption.CREATE_NEW);
    }
}
