package io.stload.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessIoTest {
    @TempDir
    Path dir;

    @Test
    void readsTheReadBytesLine() throws IOException {
        Path io = Files.writeString(dir.resolve("io"), "rchar: 6976\nwchar: 0\nsyscr: 10\nsyscw: 0\n"
                + "read_bytes: 123904\nwrite_bytes: 0\ncancelled_write_bytes: 0\n");
        assertEquals(123904, ProcessIo.readBytes(io));
    }

    @Test
    void unknownWithoutTheFileOrTheLine() throws IOException {
        assertEquals(-1, ProcessIo.readBytes(dir.resolve("missing")));
        assertEquals(-1, ProcessIo.readBytes(Files.writeString(dir.resolve("io"), "rchar: 1\n")));
        assertEquals(-1, ProcessIo.readBytesSince(-1));
    }

    @Test
    void thisProcessesCountOnLinux() {
        assumeTrue(System.getProperty("os.name").equals("Linux"));
        long before = ProcessIo.readBytes();
        assertTrue(before >= 0, "Linux keeps read_bytes in /proc/self/io");
        assertTrue(ProcessIo.readBytesSince(before) >= 0);
    }
}
