package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.HeaderParser;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.LongConsumer;
import java.util.stream.Stream;

/**
 * Checks a checkpoint the way a load would (index, every shard present, symlink targets, headers, offsets,
 * sizes) without loading it, and collects every problem instead of stopping at the first. With {@code deep},
 * also hashes every blob named by a sha256 and compares; for a hub repo, one process per node does that
 * under {@link DeepCheckLock} and the others reuse its result. Never changes a file of the checkpoint.
 */
public final class CheckpointVerifier {
    /** What was found, and the commit checked for a hub repo (else null). */
    public record Result(String commit, List<Problem> problems) {
        public boolean clean() {
            return problems.isEmpty();
        }
    }

    /** Hears how many bytes deep checking will hash, then each chunk hashed (from several threads). */
    public interface HashProgress {
        HashProgress NONE = new HashProgress() {
        };

        default void starting(long totalBytes) {
        }

        default void hashed(long bytes) {
        }
    }

    private CheckpointVerifier() {
    }

    public static Result verify(String pathOrRepo, Path cacheDir, boolean deep, int threads, WaitPolicy wait,
                                HashProgress progress) throws InterruptedException {
        return verify(pathOrRepo, cacheDir, deep, threads, wait, progress, System.getenv(), NativeAccess.get());
    }

    public static Result verify(String pathOrRepo, Path cacheDir, boolean deep, int threads, WaitPolicy wait,
                                HashProgress progress, Map<String, String> env, NativeAccess os)
            throws InterruptedException {
        Set<Problem> problems = new LinkedHashSet<>();
        try {
            CheckpointSource.resolve(pathOrRepo, cacheDir, wait, env, os);
        } catch (StloadException e) {
            if (e.kind() == ErrorKind.WaitTimeout || e.kind() == ErrorKind.Usage) {
                throw e;
            }
            problems.add(Problem.of(e));
        }
        Optional<RepoRef> repo = CheckpointSource.repoOf(pathOrRepo);
        HubCache cache = HubCache.locate(cacheDir, env);
        HubSnapshot snapshot = null;
        Path dir;
        ContainedFiles contained;
        if (repo.isPresent()) {
            try {
                snapshot = cache.snapshot(repo.get());
            } catch (StloadException e) {
                problems.add(Problem.of(e));
                return new Result(null, List.copyOf(problems));
            }
            dir = snapshot.dir();
            contained = new ContainedFiles(List.of(snapshot.blobs()));
        } else if (Files.isDirectory(Path.of(pathOrRepo))) {
            dir = Path.of(pathOrRepo);
            contained = new ContainedFiles(List.of(dir));
        } else {
            return new Result(null, List.copyOf(problems)); // a single file: the open above checked all of it
        }
        String hint = snapshot == null ? "" : "; repair it with `" + snapshot.fetchCommand() + " --force-download`";
        List<Path> blobs = scan(dir, contained, hint, problems);
        if (deep && !blobs.isEmpty()) {
            problems.addAll(deepCheck(cache, snapshot, blobs, threads, hint, wait, os, progress));
        }
        return new Result(snapshot == null ? null : snapshot.commit(), List.copyOf(problems));
    }

    /** Checks every file of the directory on its own; returns the real files that are sha256-named blobs. */
    private static List<Path> scan(Path dir, ContainedFiles contained, String hint, Set<Problem> problems) {
        Set<Path> blobs = new TreeSet<>();
        for (Path file : files(dir)) {
            try {
                Path real = contained.realFile(file, hint);
                if (real == null) {
                    continue;
                }
                if (file.getFileName().toString().endsWith(".safetensors")) {
                    HeaderParser.read(real);
                }
                if (BlobHasher.SHA256_NAME.matcher(real.getFileName().toString()).matches()) {
                    blobs.add(real);
                }
            } catch (StloadException e) {
                problems.add(Problem.of(e));
            }
        }
        return new ArrayList<>(blobs);
    }

    private static List<Problem> deepCheck(HubCache cache, HubSnapshot snapshot, List<Path> blobs, int threads,
                                           String hint, WaitPolicy wait, NativeAccess os, HashProgress progress)
            throws InterruptedException {
        long total = 0;
        for (Path b : blobs) {
            total += sizeOf(b);
        }
        progress.starting(total);
        if (snapshot == null) {
            return BlobHasher.check(blobs, threads, hint, progress::hashed);
        }
        try {
            return DeepCheckLock.runOnce(cache, snapshot, blobs, wait, os,
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

    private static List<Path> files(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> Files.isSymbolicLink(p) || Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, dir, "cannot list directory: " + FileChecks.reason(e), e);
        } catch (UncheckedIOException e) {
            // A subfolder the walk cannot enter (permission denied, or gone, as in /proc): the walk names it.
            Path where = e.getCause() instanceof FileSystemException f && f.getFile() != null ? Path.of(f.getFile()) : dir;
            throw new StloadException(ErrorKind.Io, where, "cannot list directory: " + FileChecks.reason(e.getCause()), e);
        }
    }
}
