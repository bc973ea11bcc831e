package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/**
 * Per-tensor digests recorded in a file's {@code __metadata__}: the key {@code stload.sha256.<tensor name>} holds
 * the SHA-256 of the tensor's bytes, as 64 lowercase hex digits. {@link SafetensorsWriter} and the sharded writer
 * record them when asked ({@code reshard --digests}); a reload compares them with the serving version's to skip the
 * tensors whose bytes did not change, without reading them. A digest is the writer's statement about the bytes it
 * wrote: a reader trusts it as it trusts the header's shapes.
 */
public final class TensorDigest {
    /** What every digest key starts with; the tensor's name follows. */
    public static final String KEY_PREFIX = "stload.sha256.";
    /** Hex digits of a SHA-256 digest. */
    static final int HEX_DIGITS = 64;

    private TensorDigest() {
    }

    /**
     * Names the metadata entry holding a tensor's digest.
     *
     * @param tensor the tensor's name
     * @return {@code stload.sha256.<tensor>}
     * @throws StloadException {@link ErrorKind#Usage} if {@code tensor} is null
     */
    public static String key(String tensor) {
        StloadException.requireNonNull(tensor, "a digest's key names its tensor, not null");
        return KEY_PREFIX + tensor;
    }

    /**
     * The digest a file's header records for one of its tensors.
     *
     * @param file   the header of the file holding the tensor
     * @param tensor the tensor's name
     * @return the 64 hex digits, or empty when the header records none (or something that is not a SHA-256)
     * @throws StloadException {@link ErrorKind#Usage} if {@code file} or {@code tensor} is null
     */
    public static Optional<String> of(Header file, String tensor) {
        StloadException.requireNonNull(file, "a digest is looked up in a file's header, not null");
        Map<String, String> metadata = file.metadata();
        String d = metadata == null ? null : metadata.get(key(tensor));
        return d != null && isSha256(d) ? Optional.of(d) : Optional.empty();
    }

    private static boolean isSha256(String d) {
        if (d.length() != HEX_DIGITS) {
            return false;
        }
        for (int i = 0; i < d.length(); i++) {
            char c = d.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    /** A new SHA-256 digester; every JDK has one. */
    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every Java runtime has SHA-256", e);
        }
    }

    /** The digest as recorded: 64 lowercase hex digits. */
    static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest);
    }
}
