package io.stload.checkpoint;

import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a download of a repo looks like from outside, at one moment: which of huggingface_hub's lock files
 * for the repo another process holds, which could not be probed (and why), and the size and modification time
 * of each {@code blobs/*.incomplete}. Comparing two observations tells a running download from an abandoned
 * one. A lock whose state is unknown counts as a download that may be running: waiting for it is bounded by
 * the wait timeout, while calling it free could report a shard missing that a peer is fetching. Only a regular
 * file can be a download's lock: a FIFO or a symlink in its place is no download and is not waited for.
 */
record DownloadActivity(List<Path> heldLocks, Map<Path, String> unknownLocks, Map<Path, FileState> incomplete) {

    /** Size and modification time: enough to see a file being written. */
    record FileState(long size, long modifiedMillis) {
    }

    static DownloadActivity observe(HubCache cache, RepoRef repo, NativeAccess os) {
        return observe(cache.downloadLocks(repo), cache.repoDir(repo).resolve("blobs"), os);
    }

    /**
     * A download into a folder of its own ({@code hf download REPO --local-dir DIR}): huggingface_hub keeps each
     * file's lock and partial download in {@code DIR/.cache/huggingface/download/} and moves the file to
     * {@code DIR} once it is whole; its lock files stay after it, so only a lock held tells a running download.
     *
     * @param files the folder of the locks and partial files to look at ({@link #localDownloadFiles})
     */
    static DownloadActivity observeLocalDir(Path files, NativeAccess os) {
        return observe(files, files, os);
    }

    /**
     * Where the download into {@code root} keeps the locks and partial files of {@code path}'s folder ({@code path}
     * itself, or a file's): a file {@code sub/x} has them in {@code download/sub/}.
     */
    static Path localDownloadFiles(Path root, Path path) {
        Path abs = path.toAbsolutePath().normalize();
        Path folder = Files.isDirectory(abs) ? abs : abs.getParent();
        return localDownloads(root).resolve(root.relativize(folder).toString());
    }

    /**
     * The folder a download into a folder of its own fills that holds {@code path} (a file or folder of it, at any
     * depth, as {@code hf download REPO --local-dir DIR} lays out a repo with subfolders): the nearest that has
     * huggingface_hub's {@code .cache/huggingface/download/}; empty where none has.
     */
    static Optional<Path> localDownloadRoot(Path path) {
        Path abs = path.toAbsolutePath().normalize();
        for (Path p = Files.isDirectory(abs) ? abs : abs.getParent(); p != null; p = p.getParent()) {
            if (Files.isDirectory(localDownloads(p), LinkOption.NOFOLLOW_LINKS)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Where huggingface_hub keeps the locks and partial files of a download into {@code dir}. */
    private static Path localDownloads(Path dir) {
        return dir.resolve(".cache").resolve("huggingface").resolve("download");
    }

    private static DownloadActivity observe(Path locks, Path partial, NativeAccess os) {
        List<Path> held = new ArrayList<>();
        Map<Path, String> unknown = new TreeMap<>();
        probeLocks(locks, os, held, unknown);
        return new DownloadActivity(held, unknown, incompleteFiles(partial));
    }

    /** Whether the download of {@code file} holds its lock, in a download into a folder of its own. */
    boolean holdsLockOf(Path file) {
        String lock = file.getFileName() + ".lock";
        return heldLocks.stream().anyMatch(l -> l.getFileName().toString().equals(lock))
                || unknownLocks.keySet().stream().anyMatch(l -> l.getFileName().toString().equals(lock));
    }

    /** Nothing that could be a download: no lock held or unknown, no .incomplete file. */
    boolean idle() {
        return heldLocks.isEmpty() && unknownLocks.isEmpty() && incomplete.isEmpty();
    }

    /** A lock held or of unknown state, or an .incomplete file that changed since {@code earlier}. */
    boolean inProgressSince(DownloadActivity earlier) {
        if (!heldLocks.isEmpty() || !unknownLocks.isEmpty()) {
            return true;
        }
        for (Map.Entry<Path, FileState> e : incomplete.entrySet()) {
            if (!e.getValue().equals(earlier.incomplete.get(e.getKey()))) {
                return true;
            }
        }
        return false;
    }

    /** True when every .incomplete was last modified longer ago than {@code age}, by the wall clock. */
    boolean allOlderThan(Duration age) {
        long cutoff = System.currentTimeMillis() - age.toMillis();
        return incomplete.values().stream().allMatch(f -> f.modifiedMillis() < cutoff);
    }

    /** What is being waited for, for the log. */
    String describe() {
        List<String> parts = new ArrayList<>();
        heldLocks.forEach(l -> parts.add("download lock " + l.getFileName() + " held"));
        unknownLocks.forEach((l, why) -> parts.add("download lock " + l.getFileName() + " in an unknown state ("
                + why + ")"));
        // Whether it grows shows only between two looks: here it merely exists.
        incomplete.keySet().forEach(p -> parts.add(p.getFileName() + " partly downloaded"));
        return String.join(", ", parts);
    }

    private static void probeLocks(Path lockDir, NativeAccess os, List<Path> held, Map<Path, String> unknown) {
        for (Path lock : list(lockDir, ".lock")) {
            if (lock.getFileName().toString().startsWith(HubCache.OWN_LOCK_PREFIX) || !isRegularFile(lock)) {
                continue;
            }
            // Taking a shared lock for an instant fails exactly when a downloader holds its exclusive one.
            try (HeldLock probe = os.tryLock(lock, false)) {
                if (probe == null) {
                    held.add(lock);
                }
            } catch (NoSuchFileException e) {
                // Removed between listing and probing: that download is over.
            } catch (IOException e) {
                if (isRegularFile(lock)) {
                    unknown.put(lock, e.getMessage());
                }
                // Else it was replaced since the look above by something no download holds.
            }
        }
    }

    /**
     * A download's lock is a regular file huggingface_hub creates. A FIFO, a socket, a directory or a symlink
     * (dangling or not) named {@code *.lock} is no lock a download holds: it is skipped, so a missing file is
     * reported at once rather than waited for until the timeout. (The probe itself refuses to open one.)
     */
    private static boolean isRegularFile(Path p) {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isRegularFile();
        } catch (IOException e) {
            return false;
        }
    }

    private static Map<Path, FileState> incompleteFiles(Path blobs) {
        Map<Path, FileState> sizes = new TreeMap<>();
        for (Path p : list(blobs, ".incomplete")) {
            try {
                // A download writes its .incomplete as a regular file; anything else there is not one.
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (a.isRegularFile()) {
                    sizes.put(p, new FileState(a.size(), a.lastModifiedTime().toMillis()));
                }
            } catch (IOException e) {
                // Renamed to its blob between listing and reading: that download just finished.
            }
        }
        return sizes;
    }

    private static List<Path> list(Path dir, String suffix) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix)).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
