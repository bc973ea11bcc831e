package io.stload.checkpoint;

import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * An exclusive lock on a folder that a writer fills in place, so that two writers never fill it at once: flock(2) on
 * the folder itself, which adds no file to it, lets it be deleted while held, and goes with the process however that
 * ends, whatever PID namespace the other writer runs in. Advisory: it keeps out the writers that take it, nothing
 * else. Where the file system (NFS without lock support) or the runtime (without native access) has no such locks,
 * the lock taken holds nothing, and writing goes on as it would without one.
 */
public final class FolderLock implements AutoCloseable {
    private final HeldLock held;

    private FolderLock(HeldLock held) {
        this.held = held;
    }

    /**
     * Takes the lock without waiting.
     *
     * @param folder an existing folder, not a link to one
     * @return the lock, or empty when another writer holds it
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code folder} is null; {@link
     *                         io.stload.ErrorKind#Io} if it cannot be opened (missing, a link, not a folder, no
     *                         permission)
     */
    public static Optional<FolderLock> tryTake(Path folder) {
        StloadException.requireNonNull(folder, "the folder locked is a path, not null");
        HeldLock held;
        try {
            held = NativeAccess.get().tryLockFolder(folder);
        } catch (IOException e) {
            throw FileChecks.failure(folder, "cannot lock the folder", e);
        }
        return held == null ? Optional.empty() : Optional.of(new FolderLock(held));
    }

    /** Lets the lock go. */
    @Override
    public void close() throws IOException {
        held.close();
    }
}
