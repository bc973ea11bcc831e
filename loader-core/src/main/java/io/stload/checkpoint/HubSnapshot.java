package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One commit of a repo in a {@link HubCache}: its snapshot directory, whose files must link into {@code blobs/}.
 *
 * @param repo    the repo, as named
 * @param repoDir the repo's folder in the cache
 * @param commit  the commit hash the revision resolved to
 * @param dir     {@code repoDir/snapshots/<commit>}
 */
public record HubSnapshot(RepoRef repo, Path repoDir, String commit, Path dir) {
    /**
     * Checks that every component is given.
     *
     * @throws StloadException {@link ErrorKind#Usage} if any component is null
     */
    public HubSnapshot {
        if (repo == null || repoDir == null || commit == null || dir == null) {
            throw StloadException.usage("a hub snapshot needs its repo, repo folder, commit and folder, not null");
        }
    }

    /** {@return the folder the snapshot's files link into} */
    public Path blobs() {
        return repoDir.resolve("blobs");
    }

    /**
     * The {@code blobs/} folder of a repo folder, once it is known to really lie inside it. Every file of a
     * snapshot may resolve anywhere in {@code blobs/}, so {@code blobs/} itself is what containment rests on:
     * were it a link to {@code /}, a snapshot's links could reach any file on the machine.
     *
     * @param repoDir the repo's folder, {@code models--org--name}
     * @return {@code repoDir/blobs}, which need not exist
     * @throws StloadException {@link ErrorKind#UnsafePath} when {@code blobs} is a link that leads out of the repo
     *                         folder (or nowhere), {@link ErrorKind#Io} when it cannot be resolved
     */
    static Path blobsInside(Path repoDir) {
        Path blobs = repoDir.resolve("blobs");
        if (!Files.isSymbolicLink(blobs)) {
            return blobs; // a plain folder, or nothing: it holds what it holds
        }
        try {
            if (!Files.exists(blobs)) {
                throw new StloadException(ErrorKind.UnsafePath, blobs, "is a link to "
                        + Files.readSymbolicLink(blobs) + ", which does not exist; refusing to read through it");
            }
            Path real = blobs.toRealPath();
            Path repo = repoDir.toRealPath();
            if (!real.startsWith(repo) || real.equals(repo)) {
                throw new StloadException(ErrorKind.UnsafePath, blobs, "is a link to " + real + ", outside the repo "
                        + "folder " + repo + "; refusing to read through it");
            }
            return blobs;
        } catch (IOException e) {
            throw FileChecks.failure(blobs, "cannot resolve", e);
        }
    }

    /**
     * The folders this snapshot's files may really live in, as huggingface_hub lays a cache out: the repo's
     * {@code blobs/}, which its files link into; the snapshot itself, whose files are copies where the cache was made
     * without symlinks (Windows, {@code HF_HUB_DISABLE_SYMLINKS}); and the cache's shared store, where a repo's blob is
     * itself a link into {@code <cache>/blobs/}, shared by every repo (huggingface_hub 2, for files it fetched
     * through Xet), where the cache has one.
     */
    List<Path> fileRoots() {
        return fileRoots(repoDir, dir);
    }

    /**
     * {@link #fileRoots()} of the snapshot folder {@code snapshotDir} of {@code repoDir}; the snapshot folder only
     * where it really lies in the repo's {@code snapshots/}: one that links elsewhere would vouch for whatever it
     * leads to, the whole machine were it a link to {@code /}.
     */
    static List<Path> fileRoots(Path repoDir, Path snapshotDir) {
        List<Path> roots = new ArrayList<>(List.of(blobsInside(repoDir)));
        try {
            Path snapshots = repoDir.resolve("snapshots").toRealPath();
            Path real = snapshotDir.toRealPath();
            if (real.startsWith(snapshots) && !real.equals(snapshots) && repoDir.toRealPath().equals(
                    snapshots.getParent())) {
                roots.add(snapshotDir);
            }
        } catch (IOException e) {
            // Not there, or not to be resolved: it holds nothing of the repo's.
        }
        Path cache = repoDir.toAbsolutePath().normalize().getParent();
        if (cache != null && isSharedStore(cache.resolve("blobs"))) {
            roots.add(cache.resolve("blobs"));
        }
        return roots;
    }

    /**
     * Whether {@code store} is huggingface_hub's shared blob store: a folder, not a link, holding the marker file
     * {@code .huggingface-shared-blobs} of layout 1, as huggingface_hub itself checks before it uses one.
     */
    private static boolean isSharedStore(Path store) {
        Path marker = store.resolve(".huggingface-shared-blobs");
        try {
            return Files.isDirectory(store, LinkOption.NOFOLLOW_LINKS)
                    && Files.isRegularFile(marker, LinkOption.NOFOLLOW_LINKS) && Files.size(marker) == 2
                    && Files.readString(marker).equals("1\n");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** {@return the command a user runs to fetch this snapshot} */
    public String fetchCommand() {
        return repo.fetchCommand(commit);
    }
}
