package io.stload.checkpoint;

import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a download of a repo looks like from outside, at one moment: which of huggingface_hub's lock files
 * for the repo another process holds, and the size and modification time of each {@code blobs/*.incomplete}.
 * Comparing two observations tells a running download from an abandoned one.
 */
record DownloadActivity(List<Path> heldLocks, Map<Path, FileState> incomplete) {

    /** Size and modification time: enough to see a file being written. */
    record FileState(long size, long modifiedMillis) {
    }

    static DownloadActivity observe(HubCache cache, RepoRef repo, NativeAccess os) {
        return new DownloadActivity(heldLocks(cache.downloadLocks(repo), os),
                incompleteFiles(cache.repoDir(repo).resolve("blobs")));
    }

    /** A lock held, or an .incomplete file that changed since {@code earlier}. */
    boolean inProgressSince(DownloadActivity earlier) {
        if (!heldLocks.isEmpty()) {
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
        incomplete.keySet().forEach(p -> parts.add(p.getFileName() + " growing"));
        return String.join(", ", parts);
    }

    private static List<Path> heldLocks(Path lockDir, NativeAccess os) {
        List<Path> held = new ArrayList<>();
        for (Path lock : list(lockDir, ".lock")) {
            // Taking a shared lock for an instant fails exactly when a downloader holds its exclusive one.
            try (HeldLock probe = os.tryLock(lock, false)) {
                if (probe == null) {
                    held.add(lock);
                }
            } catch (IOException e) {
                // A lock file that vanished or cannot be opened is held by nobody we can see.
            }
        }
        return held;
    }

    private static Map<Path, FileState> incompleteFiles(Path blobs) {
        Map<Path, FileState> sizes = new TreeMap<>();
        for (Path p : list(blobs, ".incomplete")) {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                sizes.put(p, new FileState(a.size(), a.lastModifiedTime().toMillis()));
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
