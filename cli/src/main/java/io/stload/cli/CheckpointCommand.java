package io.stload.cli;

import io.stload.checkpoint.Checkpoint;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * A command on the checkpoint its first argument names: a path, a hub repo id or an s3:// URL, found through
 * {@link SourceFlags}. The connection to object storage, if one was opened, is closed when the command ends.
 */
abstract class CheckpointCommand extends StloadCommand {
    @Parameters(index = "0", paramLabel = "PATH|REPO", description = SourceFlags.PATH_HELP)
    String path;

    @Mixin
    SourceFlags source;

    @Override
    public final Integer call() throws Exception {
        try {
            return run();
        } finally {
            source.close();
        }
    }

    /** The command's work; returns its exit code. */
    abstract int run() throws Exception;

    /** Opens the checkpoint named (unindexed tensors noted on stderr). */
    final Checkpoint open() {
        return source.open(path, err());
    }
}
