package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.UnknownDtypes;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.NativeAccess;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiPredicate;
import java.util.function.Supplier;

/**
 * The front door for what a user names: a path (file or directory), or a repo id {@code org/name[@revision]}
 * resolved in the hub cache. An existing path always wins over a repo id of the same spelling.
 *
 * <p>A hub checkpoint with a missing file while a download of that repo is running (a download lock held,
 * or a {@code blobs/*.incomplete} that is still changing) is waited for under the {@link WaitPolicy}; after
 * each wait the snapshot is resolved and validated again from scratch. With no download running, a missing
 * file is reported at once, and an {@code .incomplete} nobody is writing is reported as abandoned.
 */
public final class CheckpointSource {
    /** An .incomplete unchanged for this long, with no lock held, belongs to a download that is gone. */
    static final Duration STALL_AFTER = Duration.ofSeconds(10);

    private CheckpointSource() {
    }

    /**
     * Opens the checkpoint a user names, waiting under {@code wait} for a hub download of it that is still running.
     *
     * @param pathOrRepo a file or folder, or a repo id {@code org/name[@revision]}
     * @param cacheDir   the hub cache to look in, or null for where huggingface_hub keeps it
     *                   ({@link HubCache#locate})
     * @param wait       how long to wait for a running download, and where to say that it is waiting
     * @return the opened checkpoint; the caller closes it
     * @throws StloadException {@link ErrorKind#MissingShard} for a file missing with no download running,
     *                         {@link ErrorKind#WaitTimeout} when the wait ran out, or the kind of whatever else
     *                         makes the checkpoint invalid; {@link ErrorKind#Usage} if {@code pathOrRepo} or
     *                         {@code wait} is null, or {@code pathOrRepo} is empty (never the working folder) or
     *                         holds what no path can (a NUL)
     */
    public static Checkpoint resolve(String pathOrRepo, Path cacheDir, WaitPolicy wait) {
        return resolve(pathOrRepo, cacheDir, wait, UnknownDtypes.REFUSE);
    }

    /**
     * Opens the checkpoint a user names as {@link #resolve(String, Path, WaitPolicy)} does, letting tensors of a dtype
     * the format does not define through as raw bytes if asked to ({@link Checkpoint#open(Path, UnknownDtypes)}).
     *
     * @param pathOrRepo a file or folder, or a repo id {@code org/name[@revision]}
     * @param cacheDir   the hub cache to look in, or null for the one the environment names
     * @param wait       how long to wait for a running download, and where to say that it is waiting
     * @param unknown    {@link UnknownDtypes#REFUSE}, as the reference implementation, or {@link UnknownDtypes#AS_RAW}
     * @return the opened checkpoint; the caller closes it
     * @throws StloadException as {@link #resolve(String, Path, WaitPolicy)}
     */
    public static Checkpoint resolve(String pathOrRepo, Path cacheDir, WaitPolicy wait, UnknownDtypes unknown) {
        return resolve(pathOrRepo, cacheDir, wait, System.getenv(), NativeAccess.get(), unknown);
    }

    /** {@link #resolve(String, Path, WaitPolicy)} with the environment and system calls given, for tests. */
    static Checkpoint resolve(String pathOrRepo, Path cacheDir, WaitPolicy wait, Map<String, String> env,
                              NativeAccess os) {
        return resolve(pathOrRepo, cacheDir, wait, env, os, UnknownDtypes.REFUSE);
    }

    private static Checkpoint resolve(String pathOrRepo, Path cacheDir, WaitPolicy wait, Map<String, String> env,
                                      NativeAccess os, UnknownDtypes unknown) {
        if (pathOrRepo == null || wait == null || unknown == null) {
            throw StloadException.usage("a checkpoint is resolved from a path or repo id, under a wait policy and an "
                    + "UnknownDtypes choice, none of them null");
        }
        Optional<RepoRef> repo = repoOf(pathOrRepo, () -> HubCache.locate(cacheDir, env));
        if (repo.isEmpty()) {
            Path path = FileChecks.userPath(pathOrRepo, "checkpoint");
            Optional<Path> download = DownloadActivity.localDownloadRoot(path);
            return download.isPresent() ? openWaiting(path, download.get(), wait, os, unknown)
                    : Checkpoint.open(path, unknown);
        }
        HubCache cache = HubCache.locate(cacheDir, env);
        Checkpoint ckpt = openWaiting(cache, repo.get(), wait, os, unknown);
        wait.log().accept(repo.get() + " is commit " + ckpt.commit() + " (" + ckpt.path() + ")");
        return ckpt;
    }

    /**
     * The repo {@code pathOrRepo} names, or empty when it is a path: one with no owner ({@code gpt2}) only where
     * {@code cache} holds it, since a bare word more often names a file or folder, mistyped or not yet made.
     */
    static Optional<RepoRef> repoOf(String pathOrRepo, Supplier<HubCache> cache) {
        if (existsAsPath(pathOrRepo)) {
            return Optional.empty();
        }
        Optional<RepoRef> repo = RepoRef.parse(pathOrRepo);
        if (repo.isPresent()) {
            return repo;
        }
        return RepoRef.parseOwnerless(pathOrRepo).filter(r -> {
            try {
                return Files.isDirectory(cache.get().repoDir(r));
            } catch (StloadException e) {
                return false; // no cache to look in (no home): the word names a path, and is reported as one
            }
        });
    }

    private static boolean existsAsPath(String text) {
        try {
            return Files.exists(Path.of(text), LinkOption.NOFOLLOW_LINKS);
        } catch (InvalidPathException e) {
            return false;
        }
    }

    private static Checkpoint openWaiting(HubCache cache, RepoRef repo, WaitPolicy policy, NativeAccess os,
                                          UnknownDtypes unknown) {
        return openWaiting(() -> Checkpoint.open(cache.snapshot(repo), unknown),
                () -> DownloadActivity.observe(cache, repo, os), (e, now) -> e.kind() == ErrorKind.MissingShard,
                "hf download " + repo.id(), policy);
    }

    /**
     * A folder a download into a folder of its own still fills ({@code hf download REPO --local-dir DIR}): a shard
     * missing, or one whose own lock the download holds (huggingface_hub copies a file it has cached into place under
     * that lock, so it may be cut short at its final name), is waited for as in the hub cache.
     */
    private static Checkpoint openWaiting(Path path, Path downloadRoot, WaitPolicy policy, NativeAccess os,
                                          UnknownDtypes unknown) {
        Path files = DownloadActivity.localDownloadFiles(downloadRoot, path);
        return openWaiting(() -> Checkpoint.open(path, unknown), () -> DownloadActivity.observeLocalDir(files, os),
                (e, now) -> e.kind() == ErrorKind.MissingShard || e.file() != null && now.holdsLockOf(e.file()),
                "hf download REPO --local-dir " + downloadRoot, policy);
    }

    /**
     * Opens the checkpoint, and while a download fills it, waits for what it is still writing ({@code awaited}) as
     * long as the download moves; a download that stands still is an interrupted one, which {@code resume} resumes.
     */
    private static Checkpoint openWaiting(Supplier<Checkpoint> open, Supplier<DownloadActivity> observe,
                                          BiPredicate<StloadException, DownloadActivity> awaited, String resume,
                                          WaitPolicy policy) {
        Wait wait = new Wait(policy);
        DownloadActivity before = observe.get();
        long lastChange = 0;
        while (true) {
            StloadException unready;
            try {
                return open.get();
            } catch (StloadException e) {
                unready = e;
            }
            DownloadActivity now = observe.get();
            if (!awaited.test(unready, now)) {
                throw unready;
            }
            if (now.idle()) {
                // The download may have finished between the open above and this look at it: a last open decides.
                return open.get();
            }
            if (now.inProgressSince(before)) {
                lastChange = wait.elapsedNanos();
            } else if (wait.elapsedNanos() - lastChange >= STALL_AFTER.toNanos() || now.allOlderThan(STALL_AFTER)) {
                throw abandoned(unready, now, resume);
            }
            wait.pause(unready.file(), unready.file().getFileName() + " (" + now.describe() + ")");
            before = now;
        }
    }

    private static StloadException abandoned(StloadException missing, DownloadActivity activity, String resume) {
        return new StloadException(ErrorKind.MissingShard, missing.file(), missing.detail() + "; "
                + String.join(", ", activity.incomplete().keySet().stream().map(p -> p.getFileName().toString()).toList())
                + " is left over from an interrupted download (not growing, no download lock held); "
                + resume + " resumes it");
    }
}
