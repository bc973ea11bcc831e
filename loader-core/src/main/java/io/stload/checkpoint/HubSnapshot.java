package io.stload.checkpoint;

import java.nio.file.Path;

/**
 * One commit of a repo in a {@link HubCache}: its snapshot directory, whose files must link into {@code blobs/}.
 *
 * @param repo    the repo, as named
 * @param repoDir the repo's folder in the cache
 * @param commit  the commit hash the revision resolved to
 * @param dir     {@code repoDir/snapshots/<commit>}
 */
public record HubSnapshot(RepoRef repo, Path repoDir, String commit, Path dir) {
    /** {@return the folder the snapshot's files link into} */
    public Path blobs() {
        return repoDir.resolve("blobs");
    }

    /** {@return the command a user runs to fetch this snapshot} */
    public String fetchCommand() {
        return repo.fetchCommand(commit);
    }
}
