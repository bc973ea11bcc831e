package io.stload.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Builds safetensors files byte by byte, valid or not, so every rule can be exercised without a writer
 * that would refuse to produce the broken ones. The checks run both parser entry points (bytes in memory
 * and a file on disk), which share the rules but not the code that reads the length prefix.
 */
final class RawFile {
    private RawFile() {
    }

    /** An 8-byte little-endian length prefix of the header's real length, the header, then the data. */
    static byte[] of(String header, byte[] data) {
        return of(header.getBytes(StandardCharsets.UTF_8), data);
    }

    /** As {@link #of(String, byte[])}, with {@code dataBytes} bytes of a recognisable pattern. */
    static byte[] of(String header, int dataBytes) {
        byte[] data = new byte[dataBytes];
        for (int i = 0; i < dataBytes; i++) {
            data[i] = (byte) (i * 31 + 7);
        }
        return of(header, data);
    }

    static byte[] of(byte[] header, byte[] data) {
        return withPrefix(header.length, concat(header, data));
    }

    /** Any length prefix, whatever follows it. */
    static byte[] withPrefix(long n, byte[] rest) {
        ByteBuffer b = ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN);
        return b.putLong(n).put(rest).array();
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] r = new byte[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static Path write(Path dir, String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Asserts both entry points reject the file with this kind; returns the in-memory parser's exception. */
    static StloadException assertRejected(ErrorKind kind, byte[] file, Path dir) {
        StloadException fromBytes = assertThrows(StloadException.class,
                () -> HeaderParser.parse(file, Path.of("mem.safetensors")));
        assertEquals(kind, fromBytes.kind(), fromBytes::getMessage);
        Path onDisk = write(dir, "rejected.safetensors", file);
        StloadException fromFile = assertThrows(StloadException.class, () -> HeaderParser.read(onDisk));
        assertEquals(kind, fromFile.kind(), fromFile::getMessage);
        assertEquals(onDisk, fromFile.file());
        return fromBytes;
    }

    /** Asserts both entry points accept the file and agree on it; returns the header read from disk. */
    static Header assertAccepted(byte[] file, Path dir) {
        Header fromBytes = HeaderParser.parse(file, Path.of("mem.safetensors"));
        Header fromFile = HeaderParser.read(write(dir, "accepted.safetensors", file));
        assertEquals(fromBytes.tensors(), fromFile.tensors());
        assertEquals(fromBytes.metadata(), fromFile.metadata());
        assertEquals(fromBytes.headerLength(), fromFile.headerLength());
        assertEquals(file.length, fromFile.fileSize());
        return fromFile;
    }
}
