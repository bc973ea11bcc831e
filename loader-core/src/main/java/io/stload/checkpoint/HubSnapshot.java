package io.stload.checkpoint;

import java.nio.file.Path;

/** One commit of a repo in a {@link HubCache}: its snapshot directory, whose files must link into {@code blobs/}. */
public record HubSnapshot(RepoRef repo, Path repoDir, String commit, Path dir) {
    public Path blobs() {
        return repoDir.resolve("blobs");
    }

    public String fetchCommand() {
        return repo.fetchCommand(commit);
    }
}
