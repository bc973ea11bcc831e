package io.stload.load;

import java.lang.foreign.MemorySegment;
import java.util.HexFormat;
import java.util.zip.CRC32;

/** CRC-32 (java.util.zip.CRC32) of a tensor's bytes, as {@code --digest} and the conformance corpus use it. */
public final class Digests {
    /** asByteBuffer is limited to 2 GiB; tensors may be larger. */
    private static final long CHUNK = 1L << 30;

    private Digests() {
    }

    public static String crc32(MemorySegment bytes) {
        CRC32 crc = new CRC32();
        for (long off = 0; off < bytes.byteSize(); off += CHUNK) {
            crc.update(bytes.asSlice(off, Math.min(CHUNK, bytes.byteSize() - off)).asByteBuffer());
        }
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }
}
