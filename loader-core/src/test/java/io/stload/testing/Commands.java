package io.stload.testing;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/** System commands a test needs (mount, losetup, mkfs), run with a deadline. */
public final class Commands {
    private Commands() {
    }

    /** The command's exit status; -1 when it cannot be started (no such program) or runs past 60 s. */
    public static int run(String... command) throws InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            return -1;
        }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}
