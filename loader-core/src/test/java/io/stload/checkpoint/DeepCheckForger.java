package io.stload.checkpoint;

import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;

/**
 * Another process that holds a repo's deep-check lock as a hashing rank would, and, once told to go on (a line
 * on stdin), records "no problems" for the fingerprint it is given, without hashing anything: what anyone who
 * can write the lock file could do. Arguments: the lock file, the fingerprint, and {@code keep} or
 * {@code open-to-all} (make the lock file writable by everyone first). Prints {@code locked} once it holds the
 * lock; exits when it has written, which releases the lock.
 */
public final class DeepCheckForger {
    private DeepCheckForger() {
    }

    public static void main(String[] args) throws Exception {
        Path lock = Path.of(args[0]);
        try (HeldLock held = NativeAccess.get().tryLock(lock, true)) {
            if (held == null) {
                System.out.println("busy");
                System.exit(3);
            }
            System.out.println("locked");
            System.out.flush();
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            if (args[2].equals("open-to-all")) {
                Files.setPosixFilePermissions(lock, PosixFilePermissions.fromString("rw-rw-rw-"));
            }
            DeepCheckLock.record(lock, args[1], List.of(), WaitPolicy.of(Duration.ZERO));
        }
    }
}
