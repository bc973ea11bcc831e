package io.stload.cli;

import io.stload.checkpoint.HubFixture;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/**
 * A peer's download of one file into a hub cache, made the way huggingface_hub makes it, by this JVM while ranks
 * in other processes wait for it: {@link #begin} takes a flock on {@code .locks/<repo>/<blob>.lock} and writes the
 * first half of {@code blobs/<blob>.incomplete}; {@link #finish} writes the rest, renames it to the blob, creates
 * the snapshot symlink last, then releases the lock. The test decides when, once the ranks have seen the partial
 * state.
 */
final class PeerDownload implements AutoCloseable {
    private final HubFixture hub;
    private final String file;
    private final byte[] bytes;
    private final String blob;
    private final Path incomplete;
    private final HeldLock lock;
    private final OutputStream out;
    private boolean released;

    private PeerDownload(HubFixture hub, String file, byte[] bytes) throws IOException {
        this.hub = hub;
        this.file = file;
        this.bytes = bytes;
        this.blob = HubFixture.sha256(bytes);
        if (!NativeAccess.get().locksInteroperateWithFlock()) {
            throw new IllegalStateException("this JVM's locks are not flock(2)'s: the ranks would not see them");
        }
        Path lockFile = Files.createDirectories(hub.cache.resolve(".locks").resolve(hub.repoDir.getFileName()))
                .resolve(blob + ".lock");
        Files.write(lockFile, new byte[0]);
        this.lock = NativeAccess.get().tryLock(lockFile, true);
        if (lock == null) {
            throw new IllegalStateException("lock taken by someone else");
        }
        this.incomplete = hub.blobs.resolve(blob + ".incomplete");
        this.out = Files.newOutputStream(incomplete);
        out.write(Arrays.copyOf(bytes, bytes.length / 2));
        out.flush();
    }

    /** Locks the download and writes its first half. */
    static PeerDownload begin(HubFixture hub, String file, byte[] bytes) throws IOException {
        return new PeerDownload(hub, file, bytes);
    }

    /** Writes the second half, renames the file to its blob, links it into the snapshot and lets go of the lock. */
    void finish() throws IOException {
        try (this) {
            int half = bytes.length / 2;
            out.write(bytes, half, bytes.length - half);
            out.close();
            Files.move(incomplete, hub.blobs.resolve(blob), StandardCopyOption.ATOMIC_MOVE);
            hub.link(file, blob);
        }
    }

    /** Lets go of the lock, the download finished or not (once: the lock's descriptor number may be reused). */
    @Override
    public void close() throws IOException {
        if (!released) {
            released = true;
            try (lock; out) {
                // both closed, whichever throws
            }
        }
    }
}
