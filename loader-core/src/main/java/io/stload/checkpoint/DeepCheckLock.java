package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * One deep check per node for a repo at a commit: the rank that takes the node-wide lock
 * ({@link HubCache#coordinationLock}) hashes the blobs and records its result in the lock file; ranks that
 * waited for the lock reuse that result when the blobs are still the same files (path, size, mtime, inode).
 * The lock saves work and nothing else: a record that is torn, stale or for other files is ignored and the
 * check runs again, so a filesystem whose locks silently succeed only costs time.
 */
final class DeepCheckLock {
    private static final String MAGIC = "stload-deep-check 1";
    private static final String END = "end";

    private DeepCheckLock() {
    }

    static List<Problem> runOnce(HubCache cache, HubSnapshot snapshot, List<Path> blobs, WaitPolicy policy,
                                 NativeAccess os, Callable<List<Problem>> check) throws Exception {
        Path lock = cache.coordinationLock(snapshot.repo(), snapshot.commit());
        try {
            Files.createDirectories(lock.getParent());
            Files.createFile(lock);
        } catch (FileAlreadyExistsException e) {
            // Another rank, or an earlier run, made it: the lock is shared on purpose.
        } catch (IOException e) {
            policy.log().accept("cannot create " + lock + " (" + e.getMessage() + "); checking without coordination");
            return check.call();
        }
        // The lock is read and rewritten below: a FIFO or device put in its place must be refused, not opened.
        FileChecks.requireRegularFile(lock);
        String fingerprint = fingerprint(blobs);
        try (HeldLock held = acquire(lock, snapshot, policy, os)) {
            Optional<List<Problem>> recorded = read(lock, fingerprint);
            if (recorded.isPresent()) {
                policy.log().accept("reusing the deep check another process recorded in " + lock);
                return recorded.get();
            }
            List<Problem> problems = check.call();
            record(lock, fingerprint, problems, policy);
            return problems;
        }
    }

    private static HeldLock acquire(Path lock, HubSnapshot snapshot, WaitPolicy policy, NativeAccess os)
            throws IOException {
        Wait wait = new Wait(policy);
        HeldLock held;
        while ((held = os.tryLock(lock, true)) == null) {
            wait.pause(lock, "another process's deep check of " + snapshot.repo().id() + "@" + snapshot.commit());
        }
        return held;
    }

    private static Optional<List<Problem>> read(Path lock, String fingerprint) {
        List<String> lines;
        try {
            lines = Files.readAllLines(lock, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return Optional.empty();
        }
        if (lines.size() < 3 || !lines.get(0).equals(MAGIC) || !lines.get(1).equals(fingerprint)
                || !lines.getLast().equals(END)) {
            return Optional.empty();
        }
        List<Problem> problems = new ArrayList<>();
        for (String line : lines.subList(2, lines.size() - 1)) {
            String[] f = line.split("\t", 3);
            if (f.length != 3) {
                return Optional.empty();
            }
            problems.add(new Problem(ErrorKind.valueOf(f[0]), f[1].isEmpty() ? null : Path.of(f[1]), f[2]));
        }
        return Optional.of(problems);
    }

    /** Rewrites stload's own lock file, never a file of the checkpoint. */
    private static void record(Path lock, String fingerprint, List<Problem> problems, WaitPolicy policy) {
        StringBuilder text = new StringBuilder(MAGIC).append('\n').append(fingerprint).append('\n');
        for (Problem p : problems) {
            text.append(p.kind()).append('\t').append(p.file() == null ? "" : p.file().toString()).append('\t')
                    .append(p.detail().replace('\n', ' ').replace('\t', ' ')).append('\n');
        }
        try {
            Files.writeString(lock, text.append(END).append('\n'), StandardCharsets.UTF_8);
        } catch (IOException e) {
            policy.log().accept("cannot record the deep check in " + lock + ": " + e.getMessage());
        }
    }

    /** Identifies the exact files hashed, so a replaced or rewritten blob is never vouched for by an old record. */
    private static String fingerprint(List<Path> blobs) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (Path b : blobs) {
                BasicFileAttributes a = Files.readAttributes(b, BasicFileAttributes.class);
                sha.update((b + " " + a.size() + " " + a.lastModifiedTime().toMillis() + " " + a.fileKey() + "\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, "cannot read blob attributes: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
