package io.stload.format;

import static io.stload.format.RawFile.assertAccepted;
import static io.stload.format.RawFile.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The 8-byte length prefix N: its bounds are checked before anything the size of N is allocated. */
class HeaderLengthPrefixTest {
    @TempDir
    Path dir;

    @Test
    void filesShorterThanThePrefixAreTooSmall() {
        assertRejected(ErrorKind.HeaderTooSmall, new byte[0], dir);
        assertRejected(ErrorKind.HeaderTooSmall, new byte[7], dir);
    }

    @Test
    void lengthAboveTheLimitIsTooLargeEvenWhenTheFileIsTiny() {
        assertRejected(ErrorKind.HeaderTooLarge, RawFile.withPrefix(100_000_001L, "{}".getBytes()), dir);
        assertRejected(ErrorKind.HeaderTooLarge, RawFile.withPrefix(-1L, new byte[8]), dir); // 2^64-1
        assertRejected(ErrorKind.HeaderTooLarge, RawFile.withPrefix(Long.MIN_VALUE, new byte[8]), dir); // 2^63
    }

    @Test
    void gitLfsPointerIsTooLarge() {
        // A clone without git-lfs leaves text like this where the weights should be.
        byte[] pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n".getBytes(StandardCharsets.US_ASCII);
        assertRejected(ErrorKind.HeaderTooLarge, pointer, dir);
    }

    @Test
    void lengthAtTheLimitPastTheEndIsInvalidLengthWithoutAllocatingIt() {
        byte[] file = RawFile.withPrefix(100_000_000L, "{}      ".getBytes());
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        assertRejected(ErrorKind.InvalidHeaderLength, file, dir);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated < 10_000_000, "rejecting a 16-byte file allocated " + allocated + " bytes");
    }

    @Test
    void lengthOnePastTheFileIsInvalidLength() {
        assertRejected(ErrorKind.InvalidHeaderLength, RawFile.withPrefix(3, "{}".getBytes()), dir);
    }

    @Test
    void lengthZeroIsAnEmptyDocument() {
        assertRejected(ErrorKind.InvalidHeaderDeserialization, RawFile.withPrefix(0, new byte[0]), dir);
    }

    @Test
    void lengthNeedNotBeAMultipleOfEight() {
        Header h = assertAccepted(RawFile.of("{\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3), dir);
        assertEquals(53, h.headerLength());
        assertEquals(61, h.dataStart());
    }

    /**
     * Exactly 100,000,000 passes the length check and a 100,000,001 does not. Sparse files keep this cheap
     * on disk; the accepted one's header is "{}" followed by NULs, which the JSON stage then rejects.
     */
    @Test
    void limitIsInclusive() throws IOException {
        Path atLimit = sparse("at-limit.safetensors", 100_000_000L);
        StloadException e = assertThrows(StloadException.class, () -> HeaderParser.read(atLimit));
        assertEquals(ErrorKind.InvalidHeaderDeserialization, e.kind(), e.getMessage());

        Path overLimit = sparse("over-limit.safetensors", 100_000_001L);
        e = assertThrows(StloadException.class, () -> HeaderParser.read(overLimit));
        assertEquals(ErrorKind.HeaderTooLarge, e.kind(), e.getMessage());
    }

    private Path sparse(String name, long n) throws IOException {
        Path p = RawFile.write(dir, name, RawFile.withPrefix(n, "{}".getBytes()));
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(8 + n);
        }
        return p;
    }
}
