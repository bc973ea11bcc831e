package io.stload.load;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.nativeio.MappedFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.HexFormat;
import java.util.zip.CRC32;

/** CRC-32 (java.util.zip.CRC32) of a tensor's bytes, as {@code --digest} and the conformance corpus use it. */
public final class Digests {
    /** asByteBuffer is limited to 2 GiB; tensors may be larger. */
    private static final long CHUNK = 1L << 30;
    /** The bytes of a file's mapping copied at a time before they are hashed. */
    private static final int MAPPED_CHUNK = 1 << 20;

    private Digests() {
    }

    /**
     * The CRC-32 of every tensor of the checkpoint as stored in its files, each read by a lazy copy (so a file
     * truncated meanwhile is an error, never a fault of the hash): the reference a load's digests must equal.
     *
     * @param checkpoint the open checkpoint
     * @return lowercase hex digests by tensor name, in checkpoint order
     * @throws StloadException {@link ErrorKind#Io} if a file cannot be read;
     *         {@link ErrorKind#Usage} if {@code checkpoint} is null
     */
    public static Map<String, String> ofFiles(Checkpoint checkpoint) {
        StloadException.requireNonNull(checkpoint, "digests are of an open checkpoint's files, not null");
        Map<String, String> digests = new LinkedHashMap<>();
        for (String name : checkpoint.tensors().keySet()) {
            try (Arena arena = Arena.ofConfined()) {
                digests.put(name, crc32(checkpoint.copy(name, arena).data()));
            }
        }
        return digests;
    }

    /**
     * Computes the CRC-32 of any number of bytes (beyond the 2 GiB a {@code ByteBuffer} holds). The bytes of a file's
     * mapping (a checkpoint's view) are copied before they are hashed: CRC32's intrinsic would crash the JVM on a page
     * a truncation took away, where a copy's fault becomes an error.
     *
     * @param bytes the bytes
     * @return the digest as 8 lowercase hex digits
     * @throws StloadException {@link ErrorKind#Io} if the file under a mapping was truncated or became unreadable;
     *                         {@link ErrorKind#Usage} if {@code bytes} is null
     */
    public static String crc32(MemorySegment bytes) {
        StloadException.requireNonNull(bytes, "a CRC-32 is of a segment's bytes, not null");
        CRC32 crc = new CRC32();
        if (bytes.isMapped()) {
            byte[] chunk = new byte[(int) Math.min(MAPPED_CHUNK, bytes.byteSize())];
            MappedFile.reading(null, () -> {
                for (long off = 0; off < bytes.byteSize(); off += chunk.length) {
                    int n = (int) Math.min(chunk.length, bytes.byteSize() - off);
                    MemorySegment.copy(bytes, ValueLayout.JAVA_BYTE, off, chunk, 0, n);
                    crc.update(chunk, 0, n);
                }
            });
        } else {
            for (long off = 0; off < bytes.byteSize(); off += CHUNK) {
                crc.update(bytes.asSlice(off, Math.min(CHUNK, bytes.byteSize() - off)).asByteBuffer());
            }
        }
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }
}
