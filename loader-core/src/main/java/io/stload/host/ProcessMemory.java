package io.stload.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The anonymous memory this process holds: {@code RssAnon} of {@code /proc/self/status} (its heap, thread stacks and
 * what it allocated natively, a host load's tensors among them).
 */
public final class ProcessMemory {
    private static final Path PROC_SELF_STATUS = Path.of("/proc/self/status");

    private ProcessMemory() {
    }

    /** The bytes now, or -1 where the kernel does not say (not Linux). */
    public static long anonymousBytes() {
        return anonymousBytes(PROC_SELF_STATUS);
    }

    static long anonymousBytes(Path status) {
        try {
            for (String line : Files.readAllLines(status)) {
                // RssAnon:	   41236 kB
                if (line.startsWith("RssAnon:") && line.endsWith(" kB")) {
                    return Long.parseLong(line.substring("RssAnon:".length(), line.length() - 3).strip()) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // Unknown: the caller does without.
        }
        return -1;
    }
}
