package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint of many more tiny shards than the process may open files loads with every strategy, into host
 * memory and into a streaming consumer: a reader that opened every file at once ran out of descriptors, and one
 * that mapped every file at once held a mapping per shard (which, at 25,000 shards, ended in "Map failed"). The
 * ratio of shards to descriptors is what matters; these numbers keep the test to seconds (every shard costs each
 * of the four loads a little under a millisecond). The JVM itself, its class path and the engine's 64 files need
 * about 90 descriptors.
 */
class ManyShardsLoadTest {
    private static final int SHARDS = 1_000;
    private static final int DESCRIPTORS = 128;
    /** The engine's bound on files open or mapped at once per strategy, for the default four threads. */
    private static final int MAPPED_AT_ONCE = 64;

    @TempDir
    Path dir;

    @Test
    void everyStrategyLoadsMoreShardsThanTheDescriptorLimit() throws IOException, InterruptedException {
        String expected = ManyShardsLoad.combined(writeShards(dir, SHARDS));
        List<String> modes = List.of("mmap", "prefetch", "direct", "stream-mmap");
        Path out = dir.resolve("out");
        Process p = ChildJvm.main(ManyShardsLoad.class).openFileLimit(DESCRIPTORS).args(dir.toString()).args(modes)
                .builder().redirectErrorStream(true).redirectOutput(out.toFile()).start();
        try {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "did not exit");
        } finally {
            p.destroyForcibly(); // bash replaced itself with the JVM: this is the JVM
        }
        List<String> lines = Files.readAllLines(out);
        assertEquals(0, p.exitValue(), String.join("\n", lines));
        assertEquals(modes.size(), lines.size(), String.join("\n", lines));
        for (int i = 0; i < modes.size(); i++) {
            String[] words = lines.get(i).split(" ");
            assertEquals(modes.get(i) + " " + expected, words[0] + " " + words[1], lines.get(i));
            long mapped = Long.parseLong(words[2].substring("mapped<=".length()));
            assertTrue(mapped <= MAPPED_AT_ONCE, lines.get(i));
        }
    }

    /** Shards of one small U8 tensor each, and their index; returns each tensor's CRC-32 as a load reports it. */
    private static Map<String, String> writeShards(Path dir, int shards) throws IOException {
        SplittableRandom random = new SplittableRandom(14);
        Map<String, String> digests = new HashMap<>();
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        for (int s = 0; s < shards; s++) {
            String name = "w." + s;
            String file = String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
            byte[] data = new byte[100 + random.nextInt(300)];
            random.nextBytes(data);
            Files.write(dir.resolve(file), shard(name, data));
            CRC32 crc = new CRC32();
            crc.update(data);
            digests.put(name, HexFormat.of().toHexDigits((int) crc.getValue()));
            index.append(s == 0 ? "" : ", ").append('"').append(name).append("\": \"").append(file).append('"');
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}"), StandardCharsets.UTF_8);
        return digests;
    }

    /** A safetensors file of one U8 tensor, written raw: thousands of these take a second or two. */
    private static byte[] shard(String name, byte[] data) {
        StringBuilder json = new StringBuilder("{\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[" + data.length
                + "],\"data_offsets\":[0," + data.length + "]}}");
        while (json.length() % 8 != 0) {
            json.append(' ');
        }
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(header.length).put(header).put(data).array();
    }
}
