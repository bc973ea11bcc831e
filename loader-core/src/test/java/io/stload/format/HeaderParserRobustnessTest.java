package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import io.stload.StloadException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Property: whatever the bytes, the parser either returns a header that describes the whole file or throws
 * a {@link StloadException}; nothing else escapes, and it never hangs. Inputs are mutations of valid files
 * (seeded, so a failure reproduces), at each stage the parser has: length prefix, UTF-8, JSON, table.
 */
class HeaderParserRobustnessTest {
    private static final Path NAME = Path.of("mutant.safetensors");
    private static final String[] TOKENS = {
        "-1", "-0", "0", "1", "1.5", "1e3", "18446744073709551615", "18446744073709551616", "9223372036854775808",
        "null", "true", "[]", "{}", "[0,0]", "[0,0,0]", "\"F32\"", "\"F4\"", "\"__metadata__\"", "\"dtype\"",
        "\"shape\"", "\"data_offsets\"", "\"\\ud800\"", "\"\\u0000\"", ",", ":", "{", "}", "[", "]", "\"", "\\",
        "\u0000", "\u00e9", "\ufeff", "[".repeat(300), " ", "\n",
    };

    private final Random random = new Random(0x5AFE7E45L);
    private int accepted;
    private int rejected;

    @Test
    void mutantsAreAcceptedConsistentlyOrRejectedWithAKind() {
        List<byte[]> seeds = List.of(seed(true), seed(false), RawFile.of("{}", 0));
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            for (int i = 0; i < 3000; i++) {
                byte[] seed = seeds.get(i % seeds.size());
                check(jsonMutant(seed));
                check(bitFlip(seed));
                check(java.util.Arrays.copyOf(seed, random.nextInt(seed.length + 1)));
                check(randomBytes());
            }
        });
        // Both outcomes must actually occur, or the mutations test nothing past the first check.
        assertEquals(true, accepted > 100, "accepted " + accepted);
        assertEquals(true, rejected > 1000, "rejected " + rejected);
    }

    private void check(byte[] file) {
        Header h;
        try {
            h = HeaderParser.parse(file, NAME);
        } catch (StloadException e) {
            rejected++;
            return;
        } catch (Throwable t) {
            fail("escaped " + t + " for input " + java.util.HexFormat.of().formatHex(file), t);
            return;
        }
        accepted++;
        long next = 0;
        for (TensorInfo t : h.tensors()) {
            assertEquals(next, t.begin(), "tensors tile the data area");
            long bits = t.dtype().bits();
            for (long d : t.shape().toArray()) {
                bits = Math.multiplyExact(bits, d);
            }
            assertEquals(bits / 8, t.byteSize());
            next = t.end();
        }
        assertEquals(file.length, h.dataStart() + next, "the data area ends at the end of the file");
    }

    /** Replaces, inserts or deletes a JSON-ish token in the header, then fixes up or keeps the length prefix. */
    private byte[] jsonMutant(byte[] seed) {
        int n = (int) java.nio.ByteBuffer.wrap(seed, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(seed, 8, n, StandardCharsets.UTF_8);
        byte[] data = java.util.Arrays.copyOfRange(seed, 8 + n, seed.length);
        for (int k = 1 + random.nextInt(3); k > 0; k--) {
            int at = random.nextInt(header.length() + 1);
            int end = Math.min(header.length(), at + random.nextInt(8));
            String token = TOKENS[random.nextInt(TOKENS.length)];
            header = switch (random.nextInt(3)) {
                case 0 -> header.substring(0, at) + token + header.substring(end);
                case 1 -> header.substring(0, at) + token + header.substring(at);
                default -> header.substring(0, at) + header.substring(end);
            };
        }
        byte[] file = RawFile.of(header, random.nextInt(4) == 0 ? java.util.Arrays.copyOf(data, random.nextInt(data.length + 2)) : data);
        if (random.nextInt(8) == 0) {
            file[random.nextInt(8)] ^= (byte) (1 << random.nextInt(8));
        }
        return file;
    }

    private byte[] bitFlip(byte[] seed) {
        byte[] file = seed.clone();
        for (int k = 1 + random.nextInt(4); k > 0; k--) {
            file[random.nextInt(file.length)] ^= (byte) (1 << random.nextInt(8));
        }
        return file;
    }

    private byte[] randomBytes() {
        byte[] b = new byte[random.nextInt(64)];
        random.nextBytes(b);
        if (b.length >= 8 && random.nextBoolean()) {
            b[1] = b[2] = b[3] = b[4] = b[5] = b[6] = b[7] = 0; // a plausible length prefix, so JSON is reached
            b[0] = (byte) random.nextInt(b.length - 7);
        }
        return b;
    }

    private static byte[] seed(boolean withMetadata) {
        List<SafetensorsWriter.Entry> entries = List.of(
                new SafetensorsWriter.Entry("a", DType.F32, new long[] {2}),
                new SafetensorsWriter.Entry("b.é", DType.F4, new long[] {2, 2}),
                new SafetensorsWriter.Entry("c", DType.I64, new long[0]),
                new SafetensorsWriter.Entry("z", DType.BF16, new long[] {0, 3}));
        byte[] header = SafetensorsWriter.header(withMetadata ? Map.of("format", "pt") : null, entries);
        return RawFile.of(header, new byte[8 + 2 + 8]);
    }
}
