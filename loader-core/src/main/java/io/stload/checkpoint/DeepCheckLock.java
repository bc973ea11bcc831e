package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * Lets the ranks of a node that start a deep check of a repo at a commit together share one hash: the rank
 * that takes the node-wide lock ({@link HubCache#coordinationLock}) hashes the blobs and records its result,
 * under a fresh id, in the lock file. A rank that found the lock taken waits for it and takes the result
 * recorded while it waited, the hash that was in progress when it came. A rank that finds the lock free
 * hashes, every time: an old record never vouches for a file, whose bytes may have changed since without its
 * size, time or inode changing. The lock saves work and nothing else: a record that is torn, unreadable or
 * for other files is ignored (with a note) and the check runs again. The lock file is a regular file of its
 * own; a symlink or anything else in its place is refused and the check runs without coordination.
 */
final class DeepCheckLock {
    static final String MAGIC = "stload-deep-check 2";
    private static final String END = "end";

    private DeepCheckLock() {
    }

    static List<Problem> runOnce(HubCache cache, HubSnapshot snapshot, List<Path> blobs, WaitPolicy policy,
                                 NativeAccess os, Callable<List<Problem>> check) throws Exception {
        Path lock = cache.coordinationLock(snapshot.repo(), snapshot.commit());
        String fingerprint = fingerprint(blobs);
        HeldLock held;
        // A FIFO put there would never make a lock: say so, rather than check behind the user's back.
        FileChecks.refuseSpecialFile(lock);
        try {
            create(lock);
            held = os.tryLock(lock, true);
        } catch (IOException e) {
            policy.log().accept("cannot use " + lock + " (" + e.getMessage() + "); checking without coordination");
            return check.call();
        }
        if (held == null) {
            // Another rank is hashing now: its record will replace whatever the file holds at this moment.
            Optional<Record> before = read(lock, fingerprint, policy);
            try (HeldLock waited = acquire(lock, snapshot, policy, os)) {
                Optional<Record> after = read(lock, fingerprint, policy);
                if (after.isPresent() && !after.get().id().equals(before.map(Record::id).orElse(""))) {
                    policy.log().accept("took the result of the deep check another process ran meanwhile ("
                            + lock + ")");
                    return after.get().problems();
                }
                return checkAndRecord(lock, fingerprint, check, policy);
            }
        }
        try (held) {
            return checkAndRecord(lock, fingerprint, check, policy);
        }
    }

    private static List<Problem> checkAndRecord(Path lock, String fingerprint, Callable<List<Problem>> check,
                                                WaitPolicy policy) throws Exception {
        List<Problem> problems = check.call();
        record(lock, fingerprint, problems, policy);
        return problems;
    }

    /** Makes the lock file unless it exists; one that exists must be a regular file with no other name. */
    private static void create(Path lock) throws IOException {
        Files.createDirectories(lock.getParent());
        try {
            Files.createFile(lock); // O_CREAT|O_EXCL: never follows a symlink
        } catch (FileAlreadyExistsException e) {
            // Another rank, or an earlier run, made it: the lock is shared on purpose.
        }
        requireOwnFile(lock);
    }

    /** A hard link to another file would let a record overwrite that file: refuse all but a lone regular file. */
    private static void requireOwnFile(Path lock) throws IOException {
        BasicFileAttributes a = Files.readAttributes(lock, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isRegularFile()) {
            throw new IOException("not a regular file");
        }
        Object links = Files.getAttribute(lock, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
        if (links instanceof Integer n && n > 1) {
            throw new IOException("has " + n + " names (hard links)");
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

    /** One recorded check: the id of the run that made it, and what it found. */
    record Record(String id, List<Problem> problems) {
    }

    private static Optional<Record> read(Path lock, String fingerprint, WaitPolicy policy) {
        List<String> lines;
        try (SeekableByteChannel ch = open(lock, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer bytes = ByteBuffer.allocate((int) Math.min(size, 1 << 20));
            int n = 0;
            while (bytes.hasRemaining() && n >= 0) {
                n = ch.read(bytes);
            }
            lines = new String(bytes.array(), 0, bytes.position(), StandardCharsets.UTF_8).lines().toList();
        } catch (IOException e) {
            return Optional.empty();
        }
        if (lines.isEmpty()) {
            return Optional.empty();
        }
        if (lines.size() < 4 || !lines.get(0).equals(MAGIC) || !lines.getLast().equals(END)) {
            policy.log().accept("ignoring the unreadable record in " + lock);
            return Optional.empty();
        }
        if (!lines.get(2).equals(fingerprint)) {
            return Optional.empty(); // a record for other files (or other versions of them)
        }
        List<Problem> problems = new ArrayList<>();
        for (String line : lines.subList(3, lines.size() - 1)) {
            Optional<Problem> p = problem(line);
            if (p.isEmpty()) {
                policy.log().accept("ignoring the unreadable record in " + lock);
                return Optional.empty();
            }
            problems.add(p.get());
        }
        return Optional.of(new Record(lines.get(1), problems));
    }

    private static Optional<Problem> problem(String line) {
        String[] f = line.split("\t", 3);
        if (f.length != 3) {
            return Optional.empty();
        }
        for (ErrorKind kind : ErrorKind.values()) {
            if (kind.name().equals(f[0])) {
                return Optional.of(new Problem(kind, f[1].isEmpty() ? null : Path.of(f[1]), f[2]));
            }
        }
        return Optional.empty();
    }

    /** Rewrites stload's own lock file, never a file of the checkpoint, under a fresh id. */
    static void record(Path lock, String fingerprint, List<Problem> problems, WaitPolicy policy) {
        StringBuilder text = new StringBuilder(MAGIC).append('\n').append(UUID.randomUUID()).append('\n')
                .append(fingerprint).append('\n');
        for (Problem p : problems) {
            text.append(p.kind()).append('\t').append(p.file() == null ? "" : p.file().toString()).append('\t')
                    .append(p.detail().replace('\n', ' ').replace('\t', ' ')).append('\n');
        }
        ByteBuffer bytes = ByteBuffer.wrap(text.append(END).append('\n').toString().getBytes(StandardCharsets.UTF_8));
        try (SeekableByteChannel ch = open(lock, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            while (bytes.hasRemaining()) {
                ch.write(bytes);
            }
        } catch (IOException e) {
            policy.log().accept("cannot record the deep check in " + lock + ": " + e.getMessage());
        }
    }

    /** Opens the lock file itself: NOFOLLOW_LINKS opens with O_NOFOLLOW, and it is never created here. */
    private static SeekableByteChannel open(Path lock, StandardOpenOption... options) throws IOException {
        requireOwnFile(lock);
        List<OpenOption> all = new ArrayList<>(List.of(options));
        all.add(LinkOption.NOFOLLOW_LINKS);
        return Files.newByteChannel(lock, all.toArray(OpenOption[]::new));
    }

    /** Identifies the exact files hashed, so a record is only taken for the files this rank was to hash. */
    static String fingerprint(List<Path> blobs) {
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
