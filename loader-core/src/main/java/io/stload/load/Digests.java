package io.stload.load;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.Header;
import io.stload.format.SafetensorsFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.HexFormat;
import java.util.zip.CRC32;

/** CRC-32 (java.util.zip.CRC32) of a tensor's bytes, as {@code --digest} and the conformance corpus use it. */
public final class Digests {
    /** asByteBuffer is limited to 2 GiB; tensors may be larger. */
    private static final long CHUNK = 1L << 30;

    private Digests() {
    }

    /**
     * The CRC-32 of every tensor of the checkpoint as stored in its files, read through a mapping that is closed
     * before returning: the reference a load's digests must equal.
     *
     * @param checkpoint the open checkpoint; local files only
     * @return lowercase hex digests by tensor name, in checkpoint order
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Io} if a file cannot be mapped
     */
    public static Map<String, String> ofFiles(Checkpoint checkpoint) {
        Map<String, String> digests = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            for (Header h : checkpoint.files()) {
                SafetensorsFile f = SafetensorsFile.open(h.file(), arena);
                h.tensors().stream().filter(t -> checkpoint.tensors().containsKey(t.name()))
                        .forEach(t -> digests.put(t.name(), crc32(f.tensor(t).data())));
            }
        }
        return digests;
    }

    /**
     * Computes the CRC-32 of any number of bytes (beyond the 2 GiB a {@code ByteBuffer} holds).
     *
     * @param bytes the bytes
     * @return the digest as 8 lowercase hex digits
     */
    public static String crc32(MemorySegment bytes) {
        CRC32 crc = new CRC32();
        for (long off = 0; off < bytes.byteSize(); off += CHUNK) {
            crc.update(bytes.asSlice(off, Math.min(CHUNK, bytes.byteSize() - off)).asByteBuffer());
        }
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }
}
