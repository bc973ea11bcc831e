package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;

/**
 * The secret a reload must carry: read from a file the operator gave, or generated at start into a new file
 * that only this user can read (created with mode 0600, never wider), and deleted when the server stops.
 */
final class ReloadToken implements AutoCloseable {
    private static final long MAX_FILE_BYTES = 4096;

    private final String value;
    private final Path file;
    private final boolean generated;

    private ReloadToken(String value, Path file, boolean generated) {
        this.value = value;
        this.file = file;
        this.generated = generated;
    }

    static ReloadToken generate() {
        String value = ReloadGuard.newToken();
        Path file = null;
        try {
            file = Files.createTempFile("stload-serve-", ".token", PosixFilePermissions.asFileAttribute(
                    EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE)));
            Files.writeString(file, value + "\n", StandardCharsets.UTF_8);
            return new ReloadToken(value, file, true);
        } catch (IOException e) {
            if (file != null) {
                try {
                    Files.deleteIfExists(file); // a token file without its token is of no use to anyone
                } catch (IOException ignored) {
                    // Named below.
                }
            }
            // A read-only root filesystem (a hardened pod) has no writable temporary folder: say what to do.
            throw new StloadException(ErrorKind.Io, file, "cannot write the reload token file in "
                    + System.getProperty("java.io.tmpdir") + " (" + FileChecks.reason(e) + "); name a writable one "
                    + "with --token-file FILE (holding a token of your own), or point -Djava.io.tmpdir elsewhere", e);
        }
    }

    /** A token file must be a small regular file (a FIFO would block the start) holding the token on one line. */
    static ReloadToken read(Path file) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            if (!a.isRegularFile() || a.size() > MAX_FILE_BYTES) {
                throw new StloadException(ErrorKind.Usage, file,
                        "--token-file must be a regular file of at most " + MAX_FILE_BYTES + " bytes");
            }
            String value = Files.readString(file, StandardCharsets.UTF_8).strip();
            if (value.length() < ReloadGuard.MIN_TOKEN_CHARS || value.contains("\n")) {
                throw new StloadException(ErrorKind.Usage, file, "--token-file must hold one token of at least "
                        + ReloadGuard.MIN_TOKEN_CHARS + " characters on one line");
            }
            return new ReloadToken(value, file, false);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Usage, file, "cannot read --token-file: " + FileChecks.reason(e));
        }
    }

    String value() {
        return value;
    }

    Path file() {
        return file;
    }

    @Override
    public void close() {
        if (generated) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                // A token left behind unlocks nothing once this server has stopped.
            }
        }
    }
}
