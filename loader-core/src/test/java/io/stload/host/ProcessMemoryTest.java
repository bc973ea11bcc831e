package io.stload.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessMemoryTest {
    @TempDir
    Path dir;

    @Test
    void readsRssAnonAndSaysWhenItCannot() throws IOException {
        Path status = dir.resolve("status");
        Files.writeString(status, "Name:\tjava\nVmRSS:\t  90000 kB\nRssAnon:\t   41236 kB\nRssFile:\t  20000 kB\n");
        assertEquals(41236L * 1024, ProcessMemory.anonymousBytes(status));
        Files.writeString(status, "Name:\tjava\nRssAnon:\t 12 pages\n");
        assertEquals(-1, ProcessMemory.anonymousBytes(status));
        assertEquals(-1, ProcessMemory.anonymousBytes(dir.resolve("absent")));
        assertTrue(ProcessMemory.anonymousBytes() > 0, "this JVM holds a heap");
    }
}
