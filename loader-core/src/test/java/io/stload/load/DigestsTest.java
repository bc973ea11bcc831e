package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Known answers for the digest ten test classes compare against: CRC-32 (ISO-HDLC), eight hex digits. */
class DigestsTest {
    private static final byte[] CHECK_INPUT = "123456789".getBytes(StandardCharsets.US_ASCII);

    @Test
    void theStandardCheckValue() {
        assertEquals("cbf43926", Digests.crc32(MemorySegment.ofArray(CHECK_INPUT)));
    }

    @Test
    void emptyAndSingleByteInputs() {
        assertEquals("00000000", Digests.crc32(MemorySegment.ofArray(new byte[0])));
        assertEquals("e8b7be43", Digests.crc32(MemorySegment.ofArray(new byte[] {'a'})));
    }

    @Test
    void aSliceOfNativeMemoryDigestsItsOwnBytesOnly() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment whole = arena.allocate(CHECK_INPUT.length + 32);
            whole.fill((byte) 0x5a);
            MemorySegment.copy(MemorySegment.ofArray(CHECK_INPUT), 0, whole, 16, CHECK_INPUT.length);
            assertEquals("cbf43926", Digests.crc32(whole.asSlice(16, CHECK_INPUT.length)));
        }
    }
}
