package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Checks a checkpoint the way a load would (index, every shard it names present, symlink targets, headers,
 * offsets, sizes) without loading it, and collects every problem instead of stopping at the first. It checks
 * what a load would read: with an index, the shards it names; a {@code .safetensors} file the index does not
 * name, or a tensor a shard holds that the index maps elsewhere, is a note, not a problem, as a load ignores
 * them. With {@code deep}, also hashes every blob read that is named by a sha256 and compares, every time;
 * for a hub repo, ranks that start together share one hash under {@link DeepCheckLock}. Never changes a file
 * of the checkpoint.
 */
public final class CheckpointVerifier {
    /**
     * What was found.
     *
     * @param commit   the commit checked for a hub repo, else null
     * @param problems what a load would fail on, each once
     * @param notes    what a load would ignore, worth knowing but not a problem
     */
    public record Result(String commit, List<Problem> problems, List<String> notes) {
        /**
         * Copies the lists, so a result cannot change after it is made.
         *
         * @throws StloadException {@link ErrorKind#Usage} if {@code problems} or {@code notes} is null
         */
        public Result {
            if (problems == null || notes == null) {
                throw StloadException.usage("a verification's result lists its problems and notes, not null");
            }
            problems = List.copyOf(problems);
            notes = List.copyOf(notes);
        }

        /**
         * Whether a load would find nothing wrong.
         *
         * @return true when there are no problems
         */
        public boolean clean() {
            return problems.isEmpty();
        }
    }

    /** Hears how many bytes deep checking will hash, then each chunk hashed (from several threads). */
    public interface HashProgress {
        /** Hears nothing. */
        HashProgress NONE = new HashProgress() {
        };

        /**
         * Called once, before hashing starts.
         *
         * @param totalBytes the bytes that will be hashed
         */
        default void starting(long totalBytes) {
        }

        /**
         * Called after each chunk, from the hashing threads; keep it cheap.
         *
         * @param bytes the chunk's size
         */
        default void hashed(long bytes) {
        }
    }

    private CheckpointVerifier() {
    }

    /**
     * Checks the checkpoint a user names, collecting every problem.
     *
     * @param pathOrRepo a file or folder, or a repo id {@code org/name[@revision]}
     * @param cacheDir   the hub cache to look in, or null for the one the environment names or the default
     * @param deep       whether to hash every blob named by a sha256 and compare
     * @param threads    blobs hashed at once
     * @param wait       how long to wait for a download of the repo that is still running
     * @param progress   hears the bytes to hash and each chunk hashed
     * @return the problems found and notes; never changes a file
     * @throws StloadException {@link ErrorKind#WaitTimeout} when the wait for a running download ran out, or
     *                         {@link ErrorKind#Usage} for a request that cannot be checked (a null argument but
     *                         {@code cacheDir} among them, an empty path); every problem of the checkpoint itself is
     *                         in the result instead
     * @throws InterruptedException when interrupted while hashing or waiting
     */
    public static Result verify(String pathOrRepo, Path cacheDir, boolean deep, int threads, WaitPolicy wait,
                                HashProgress progress) throws InterruptedException {
        return verify(pathOrRepo, cacheDir, deep, threads, wait, progress, System.getenv(), NativeAccess.get());
    }

    /** {@link #verify(String, Path, boolean, int, WaitPolicy, HashProgress)} with the environment and system calls given. */
    static Result verify(String pathOrRepo, Path cacheDir, boolean deep, int threads, WaitPolicy wait,
                         HashProgress progress, Map<String, String> env, NativeAccess os)
            throws InterruptedException {
        if (pathOrRepo == null || wait == null || progress == null) {
            throw StloadException.usage("a checkpoint is verified from a path or repo id, under a wait policy, with a "
                    + "progress listener (HashProgress.NONE for none), none of them null");
        }
        Set<Problem> problems = new LinkedHashSet<>();
        List<String> notes = new ArrayList<>();
        Optional<RepoRef> repo = CheckpointSource.repoOf(pathOrRepo, () -> HubCache.locate(cacheDir, env));
        HubCache cache = repo.isPresent() ? HubCache.locate(cacheDir, env) : null; // a folder needs none
        Path path = repo.isPresent() ? null : FileChecks.userPath(pathOrRepo, "checkpoint");
        HubSnapshot snapshot = null;
        Path dir;
        ContainedFiles contained;
        String hint = "";
        if (repo.isPresent() || DownloadActivity.localDownloadRoot(path).isPresent()) {
            try {
                // Waits for a download still running (into the hub cache, or into this folder); what is wrong once it
                // is done is found below.
                CheckpointSource.resolve(pathOrRepo, cacheDir, wait, env, os).close();
            } catch (StloadException e) {
                if (e.kind() == ErrorKind.WaitTimeout || e.kind() == ErrorKind.Usage) {
                    throw e;
                }
            }
        }
        if (repo.isPresent()) {
            try {
                snapshot = cache.snapshot(repo.get());
            } catch (StloadException e) {
                problems.add(Problem.of(e));
                return new Result(null, List.copyOf(problems), notes);
            }
            dir = snapshot.dir();
            contained = new ContainedFiles(snapshot.fileRoots());
            hint = "; repair it with `" + snapshot.fetchCommand() + " --force-download`";
        } else {
            try {
                if (!FileChecks.requireFileOrDirectory(path).isDirectory()) {
                    CheckpointFiles.single(path);
                    return new Result(null, List.of(), notes);
                }
            } catch (StloadException e) {
                return new Result(null, List.of(Problem.of(e)), notes);
            }
            dir = path;
            contained = Checkpoint.containedFiles(dir);
        }
        // The same walk as opening the checkpoint, going on past each problem to collect them all.
        CheckpointFiles.Problems collect = e -> problems.add(Problem.of(e));
        CheckpointFiles.Found found = CheckpointFiles.directory(dir, contained, hint, collect);
        found.tensors(collect);
        found.unindexed().forEach((shard, extra) -> notes.add(shard + " holds " + extra.size() + " tensor(s) "
                + found.index().getFileName() + " does not map to it (" + String.join(", ",
                extra.subList(0, Math.min(3, extra.size()))) + (extra.size() > 3 ? ", ..." : "")
                + "); a load reads only the tensors the index names"));
        if (found.index() != null) {
            Set<Path> named = new HashSet<>();
            found.listed().forEach(n -> named.add(dir.resolve(n).toAbsolutePath().normalize()));
            for (Path file : filesOrNote(dir, notes)) {
                if (!named.contains(file.toAbsolutePath().normalize())) {
                    notes.add(dir.relativize(file) + " is not named by " + found.index().getFileName()
                            + "; a load does not read it, and it was not checked");
                }
            }
        }
        if (deep) {
            String origin = snapshot == null ? "" : " of " + snapshot.repo().id() + "@" + snapshot.commit();
            Map<Path, String> blobs = new TreeMap<>();
            for (Header h : found.headers()) {
                Path blob = namedBlob(dir.resolve(found.names().get(h)), found.real().get(h));
                if (BlobHasher.SHA256_NAME.matcher(blob.getFileName().toString()).matches()) {
                    blobs.put(blob, found.names().get(h) + origin);
                }
            }
            // A load reads the index too: its blob is hashed when it is named by its sha256 (the hub stores a small
            // file under its git hash instead, which this does not check).
            try {
                Path index = found.index() == null ? null : namedBlob(found.index(),
                        contained.realFile(found.index(), hint));
                if (index != null && BlobHasher.SHA256_NAME.matcher(index.getFileName().toString()).matches()) {
                    blobs.put(index, found.index().getFileName() + origin);
                }
            } catch (StloadException e) {
                problems.add(Problem.of(e)); // as the walk found it already: the set keeps one
            }
            if (blobs.isEmpty()) {
                notes.add("no file of this checkpoint is named by its sha256 (a hub cache's blobs are), so the deep"
                        + " check hashed nothing");
            } else {
                problems.addAll(deepCheck(cache, snapshot, blobs, threads, hint, wait, os, progress));
            }
        }
        return new Result(snapshot == null ? null : snapshot.commit(), List.copyOf(problems), notes);
    }

    private static List<Problem> deepCheck(HubCache cache, HubSnapshot snapshot, Map<Path, String> blobs,
                                           int threads, String hint, WaitPolicy wait, NativeAccess os,
                                           HashProgress progress) throws InterruptedException {
        long total = 0;
        for (Path b : blobs.keySet()) {
            total += sizeOf(b);
        }
        progress.starting(total);
        if (snapshot == null) {
            return BlobHasher.check(blobs, threads, hint, progress::hashed);
        }
        try {
            return DeepCheckLock.runOnce(cache, snapshot, List.copyOf(blobs.keySet()), wait, os,
                    () -> BlobHasher.check(blobs, threads, hint, progress::hashed));
        } catch (InterruptedException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new StloadException(ErrorKind.Io, null, "deep check failed: " + e, e);
        }
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * The file that names a blob by its sha256: the repo's {@code blobs/<sha256>} a snapshot's file links to, else
     * the real file. Where huggingface_hub shares blobs across repos, that link leads on into its store, to a file
     * named by another hash, which is no sha256 of the bytes.
     */
    private static Path namedBlob(Path file, Path real) {
        try {
            if (Files.isSymbolicLink(file)) {
                Path hop = file.toAbsolutePath().getParent().resolve(Files.readSymbolicLink(file)).normalize();
                Path folder = hop.getParent();
                if (folder != null && folder.getFileName() != null && folder.getFileName().toString().equals("blobs")
                        && Files.isSymbolicLink(hop)) {
                    return hop;
                }
            }
        } catch (IOException e) {
            // Read as the walk resolved it.
        }
        return real;
    }

    /**
     * The {@code .safetensors} files in the folder and those below it, to find those the index does not name. A
     * folder that may be entered but not listed (mode 711) loads, so it is a note here, not a problem, and the walk
     * goes on past it.
     */
    private static List<Path> filesOrNote(Path dir, List<String> notes) {
        List<Path> found = new ArrayList<>();
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes a) {
                    boolean safetensors = file.getFileName().toString().endsWith(".safetensors");
                    if (safetensors && (a.isSymbolicLink() || a.isRegularFile())) {
                        found.add(file);
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    notes.add(file + ": cannot list directory: " + FileChecks.reason(e)
                            + "; files the index does not name were not looked for there");
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            notes.add(dir + ": cannot list directory: " + FileChecks.reason(e)
                    + "; files the index does not name were not looked for there");
        }
        return found.stream().sorted().toList();
    }
}
