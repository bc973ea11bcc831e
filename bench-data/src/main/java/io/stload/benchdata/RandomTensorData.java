package io.stload.benchdata;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter.DataSource;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.SplittableRandom;

/**
 * Incompressible tensor bytes that depend only on (seed, tensor name): each tensor gets its own
 * {@link SplittableRandom} stream, written through one reusable direct buffer, so memory stays bounded
 * however large a tensor is. The stream is consumed 8 bytes at a time and only a tensor's last word is cut,
 * so the bytes do not depend on the chunk size either.
 */
final class RandomTensorData implements DataSource {
    static final int CHUNK_BYTES = 4 << 20;

    private final long seed;
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);

    RandomTensorData(long seed) {
        this.seed = seed;
    }

    @Override
    public void write(Entry entry, WritableByteChannel out) throws IOException {
        SplittableRandom random = new SplittableRandom(streamSeed(seed, entry.name()));
        // A BOOL byte is 0 or 1 (torch reads any other as a bool whose sum is not its count of trues).
        long mask = entry.dtype() == DType.BOOL ? 0x0101010101010101L : -1L;
        long remaining = entry.byteSize();
        while (remaining > 0) {
            int n = (int) Math.min(CHUNK_BYTES, remaining);
            fill(random, n, mask);
            while (chunk.hasRemaining()) {
                out.write(chunk);
            }
            remaining -= n;
        }
    }

    private void fill(SplittableRandom random, int n, long mask) {
        chunk.clear();
        int words = n / 8;
        for (int i = 0; i < words; i++) {
            chunk.putLong(i * 8, random.nextLong() & mask);
        }
        if (n % 8 != 0) {
            long last = random.nextLong() & mask;
            for (int i = words * 8; i < n; i++, last >>>= 8) {
                chunk.put(i, (byte) last);
            }
        }
        chunk.limit(n);
    }

    /**
     * A digest of seed and full name rather than {@code seed ^ name.hashCode()}: String hashes are 32 bits and
     * collide on small variations ("Aa" and "BB"), which would give two tensors the same bytes.
     */
    static long streamSeed(long seed, String tensorName) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(ByteBuffer.allocate(8).putLong(seed).array());
            sha.update(tensorName.getBytes(StandardCharsets.UTF_8));
            return ByteBuffer.wrap(sha.digest()).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }
}
