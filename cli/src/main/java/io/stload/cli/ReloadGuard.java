package io.stload.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Who may reload, and what: a reload must carry the server's token ({@code Authorization: Bearer TOKEN}), and
 * its path must resolve, symlinks followed, to a regular file or a directory under the reload root. Anything
 * else is refused with the same answer, so a client learns nothing about files outside the root.
 */
final class ReloadGuard {
    /** Tokens shorter than this are too easy to guess. */
    static final int MIN_TOKEN_CHARS = 16;

    private final byte[] token;
    private final Path realRoot;

    /**
     * {@code root} must exist; it is resolved once, now, so later renames cannot widen it. A null root allows no local
     * reload at all (a server of a hub or S3 checkpoint given no reload root).
     */
    ReloadGuard(String token, Path root) throws IOException {
        if (token.length() < MIN_TOKEN_CHARS) {
            throw new IllegalArgumentException("a reload token needs at least " + MIN_TOKEN_CHARS + " characters");
        }
        this.token = token.getBytes(StandardCharsets.UTF_8);
        this.realRoot = root == null ? null : root.toRealPath();
        if (realRoot != null && !Files.isDirectory(realRoot)) {
            throw new IOException(root + " is not a directory");
        }
    }

    /** 32 random bytes in hex. */
    static String newToken() {
        byte[] bytes = new byte[32];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /** The reload root, or null when no local reload is allowed. */
    Path root() {
        return realRoot;
    }

    /** True when the request's Authorization header carries the token; compared in constant time. */
    boolean authorized(String authorization) {
        String prefix = "Bearer ";
        if (authorization == null || !authorization.regionMatches(true, 0, prefix, 0, prefix.length())) {
            return false;
        }
        byte[] given = authorization.substring(prefix.length()).strip().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(token, given);
    }

    /**
     * The real path of a reload target under the root, or empty when it is missing, unreadable, outside the
     * root, or neither a regular file nor a directory (a FIFO would block the reload that opens it).
     */
    Optional<Path> confine(Path requested) {
        if (realRoot == null) {
            return Optional.empty();
        }
        try {
            Path real = requested.toAbsolutePath().toRealPath();
            if (!real.startsWith(realRoot)) {
                return Optional.empty();
            }
            BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
            return a.isRegularFile() || a.isDirectory() ? Optional.of(real) : Optional.empty();
        } catch (IOException | SecurityException e) {
            return Optional.empty();
        }
    }
}
