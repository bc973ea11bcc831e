package io.stload.checkpoint;

import io.stload.ErrorKind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;
import java.util.regex.Pattern;

/** SHA-256 of the blobs named by their sha256 (LFS files), several files at once, compared to their names. */
final class BlobHasher {
    static final Pattern SHA256_NAME = Pattern.compile("[0-9a-f]{64}");
    private static final int CHUNK = 4 << 20;

    private BlobHasher() {
    }

    /**
     * The mismatches among {@code blobs} (each with the name the checkpoint knows it by, for the message),
     * reporting every byte hashed to {@code progress} (from several threads).
     */
    static List<Problem> check(Map<Path, String> blobs, int threads, String repairHint, LongConsumer progress)
            throws InterruptedException {
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(threads, blobs.size())), r -> {
            Thread t = new Thread(r, "stload-hash");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<Problem>> results = new ArrayList<>();
            blobs.forEach((blob, name) -> results.add(pool.submit(() -> check(blob, name, repairHint, progress))));
            List<Problem> problems = new ArrayList<>();
            for (Future<Problem> f : results) {
                Problem p = f.get();
                if (p != null) {
                    problems.add(p);
                }
            }
            return problems;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    private static Problem check(Path blob, String name, String repairHint, LongConsumer progress) {
        String expected = blob.getFileName().toString();
        try {
            String actual = sha256(blob, progress);
            return actual.equals(expected) ? null : new Problem(ErrorKind.DigestMismatch, blob, name
                    + ": content hashes to sha256 " + actual + ", not the " + expected + " it is named by: the blob is "
                    + "corrupted" + repairHint);
        } catch (IOException e) {
            return new Problem(ErrorKind.Io, blob, name + ": cannot read to hash it: " + e.getMessage());
        }
    }

    static String sha256(Path file, LongConsumer progress) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            int n;
            while ((n = ch.read(buffer.clear())) >= 0) {
                sha.update(buffer.flip());
                progress.accept(n);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }
}
