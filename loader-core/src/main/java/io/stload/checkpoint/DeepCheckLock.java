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
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;

/**
 * Lets the ranks of a node that start a deep check of a repo at a commit together share one hash: the rank
 * that takes the node-wide lock ({@link HubCache#coordinationLock}) hashes the blobs and records its result,
 * under a fresh id, in the lock file. A rank that found the lock taken waits for it and takes the result
 * recorded while it waited, the hash that was in progress when it came. A rank that finds the lock free
 * hashes, every time: an old record never vouches for a file, whose bytes may have changed since without its
 * size, time or inode changing. The lock saves work and nothing else: a record that is torn, unreadable or
 * for other files is ignored (with a note) and the check runs again.
 *
 * <p>A record is only as honest as whoever could write it, and nothing in it can be checked short of hashing
 * again. So a rank takes one only when the file system vouches for its writer: the lock file belongs to the
 * user this process runs as, has no other name, and neither its group nor others may write it or replace it
 * (its folder belongs to this user or root and is not writable by others, or is sticky). Otherwise the rank
 * hashes by itself, and says so; when it takes a result, it says that too. The lock file is a regular file of
 * its own; a symlink, a FIFO or anything else in its place is refused and the check runs without coordination.
 */
final class DeepCheckLock {
    static final String MAGIC = "stload-deep-check 2";
    private static final String END = "end";
    /** The group-write and other-write bits of a mode. */
    private static final int GROUP_OR_OTHER_WRITE = 0022;
    private static final int STICKY = 01000;
    /** What a lock file is created with (less the umask): only its owner may write a record. */
    private static final Set<PosixFilePermission> LOCK_PERMISSIONS = PosixFilePermissions.fromString("rw-r--r--");

    private DeepCheckLock() {
    }

    static List<Problem> runOnce(HubCache cache, HubSnapshot snapshot, List<Path> blobs, WaitPolicy policy,
                                 NativeAccess os, Callable<List<Problem>> check) throws Exception {
        return runOnce(cache, snapshot, blobs, policy, os, check, currentUid());
    }

    /** {@link #runOnce} as the user {@code uid} (empty: unknown, so no record is trusted). */
    static List<Problem> runOnce(HubCache cache, HubSnapshot snapshot, List<Path> blobs, WaitPolicy policy,
                                 NativeAccess os, Callable<List<Problem>> check, OptionalInt uid) throws Exception {
        Path lock = cache.coordinationLock(snapshot.repo(), snapshot.commit());
        String fingerprint = fingerprint(blobs);
        HeldLock held;
        try {
            boolean made = create(lock);
            Optional<String> distrust = distrust(lock, uid);
            if (distrust.isPresent()) {
                if (made) {
                    removeUnused(lock, os);
                }
                // Waiting would only be for a result this rank could not take.
                policy.log().accept("not sharing the deep check through " + lock + " (" + distrust.get()
                        + "); hashing every blob here");
                return check.call();
            }
            held = os.tryLock(lock, true);
        } catch (IOException e) {
            policy.log().accept("cannot use " + lock + " (" + FileChecks.reason(e) + "); checking without coordination");
            return check.call();
        }
        if (held == null) {
            // Another rank is hashing now: its record will replace whatever the file holds at this moment.
            Optional<Record> before = read(lock, fingerprint, policy);
            HeldLock waited;
            try {
                waited = acquire(lock, snapshot, policy, os);
            } catch (IOException e) {
                // Replaced while waiting by something that is no lock file.
                policy.log().accept("cannot use " + lock + " (" + FileChecks.reason(e) + "); checking without coordination");
                return check.call();
            }
            try (waited) {
                Optional<Record> after = readTrusted(lock, fingerprint, policy, uid);
                if (after.isPresent() && !after.get().id().equals(before.map(Record::id).orElse(""))) {
                    policy.log().accept("took the result of the deep check another process of this user ran "
                            + "meanwhile, recorded in " + lock + " (a file only this user can write); the blobs "
                            + "were not hashed here");
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

    /**
     * Makes the lock file unless it exists; one that exists must be a regular file with no other name. Its two
     * folders ({@code .locks/} and the repo's) are made where missing and never followed: a symlink there would carry
     * the file and its records out of the cache.
     */
    /**
     * Takes back the lock file this rank has just made and will not use, unless another process already holds it:
     * of the cache, stload only ever adds a lock it shares a check through.
     */
    private static void removeUnused(Path lock, NativeAccess os) {
        try (HeldLock held = os.tryLock(lock, true)) {
            if (held != null) {
                Files.delete(lock);
            }
        } catch (IOException e) {
            // Left as it is: an empty lock file, which the next rank may use.
        }
    }

    /** {@return whether this call made the lock file, which may have been made before} */
    private static boolean create(Path lock) throws IOException {
        Path repoLocks = lock.getParent();
        for (Path dir : List.of(repoLocks.getParent(), repoLocks)) {
            try {
                Files.createDirectory(dir);
            } catch (FileAlreadyExistsException e) {
                // made before, by this or a download: checked below
            }
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException(dir + " is not a folder (a symlink, or a file)");
            }
        }
        boolean made = true;
        try {
            // O_CREAT|O_EXCL: never follows a symlink. Never writable by group or others, whatever the umask.
            Files.createFile(lock, PosixFilePermissions.asFileAttribute(LOCK_PERMISSIONS));
        } catch (FileAlreadyExistsException e) {
            made = false; // another rank, or an earlier run, made it: the lock is shared on purpose
        } catch (UnsupportedOperationException e) {
            Files.createFile(lock); // no POSIX permissions here; such a file is never trusted anyway
        }
        requireOwnFile(lock);
        return made;
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

    /**
     * Why a record in {@code lock} could have been written by someone other than the user {@code uid}, or
     * empty when the file system rules that out: the file is this user's, with one name, writable by no one
     * else, in a folder where no one else can replace it.
     */
    static Optional<String> distrust(Path lock, OptionalInt uid) {
        if (uid.isEmpty()) {
            return Optional.of("cannot tell which user this process runs as, or it runs as the overflow uid, which"
                    + " files of owners outside its user namespace show");
        }
        try {
            Map<String, Object> file = Files.readAttributes(lock, "unix:uid,mode,nlink", LinkOption.NOFOLLOW_LINKS);
            Map<String, Object> dir = Files.readAttributes(lock.getParent(), "unix:uid,mode");
            int owner = (Integer) file.get("uid");
            int mode = (Integer) file.get("mode");
            int dirOwner = (Integer) dir.get("uid");
            int dirMode = (Integer) dir.get("mode");
            if (owner != uid.getAsInt()) {
                return Optional.of("it belongs to uid " + owner + ", not to uid " + uid.getAsInt()
                        + " this process runs as");
            }
            if ((mode & GROUP_OR_OTHER_WRITE) != 0) {
                return Optional.of(String.format(Locale.ROOT, "its group or others may write it (mode %04o)",
                        mode & 07777));
            }
            if ((Integer) file.get("nlink") != 1) {
                return Optional.of("it has more than one name");
            }
            if (dirOwner != uid.getAsInt() && dirOwner != 0) {
                return Optional.of("its folder belongs to uid " + dirOwner + ", who may replace it");
            }
            if ((dirMode & GROUP_OR_OTHER_WRITE) != 0 && (dirMode & STICKY) == 0) {
                return Optional.of(String.format(Locale.ROOT, "its group or others may replace it (folder mode "
                        + "%04o)", dirMode & 07777));
            }
            return Optional.empty();
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return Optional.of("cannot read its owner and mode: " + e.getMessage());
        }
    }

    /**
     * The user this process runs as (the owner of {@code /proc/self}); empty where that cannot be read, or where it
     * is the overflow uid (65534), which every file of an owner outside this process's user namespace shows: owning
     * a file would then vouch for no one.
     */
    static OptionalInt currentUid() {
        try {
            int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            return uid == overflowUid() ? OptionalInt.empty() : OptionalInt.of(uid);
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return OptionalInt.empty();
        }
    }

    private static int overflowUid() {
        try {
            // A sysctl file is read in one read(2) or not at all: Files.readString, which reads a file of size 0 a
            // byte first, gets "6" of "65534". A reader's buffer takes the line in one.
            return Integer.parseInt(Files.readAllLines(Path.of("/proc/sys/kernel/overflowuid")).stream().findFirst()
                    .orElse("").strip());
        } catch (IOException | NumberFormatException e) {
            return 65534; // the kernel's default
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

    /**
     * The record, when the file system vouches for its writer ({@link #distrust}) before and after it is read,
     * and the file read is the one checked (same file key both times); else empty, with a note saying why.
     */
    private static Optional<Record> readTrusted(Path lock, String fingerprint, WaitPolicy policy, OptionalInt uid) {
        Object key = fileKey(lock);
        Optional<String> why = distrust(lock, uid);
        Optional<Record> record = why.isPresent() ? Optional.empty() : read(lock, fingerprint, policy);
        if (why.isEmpty() && record.isPresent()) {
            why = distrust(lock, uid);
            if (why.isEmpty() && (key == null || !key.equals(fileKey(lock)))) {
                why = Optional.of("it was replaced while it was read");
            }
        }
        if (why.isPresent()) {
            policy.log().accept("not taking the deep check result recorded in " + lock + " (" + why.get()
                    + "); hashing every blob here");
            return Optional.empty();
        }
        return record;
    }

    private static Object fileKey(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (IOException e) {
            return null;
        }
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
            policy.log().accept("cannot record the deep check in " + lock + ": " + FileChecks.reason(e));
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
            throw new StloadException(ErrorKind.Io, null, "cannot read blob attributes: " + FileChecks.reason(e), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
