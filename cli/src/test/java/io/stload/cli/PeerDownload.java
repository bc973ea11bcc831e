package io.stload.cli;

import io.stload.checkpoint.HubFixture;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;

/**
 * Run in its own JVM: fetches one file into a hub cache the way huggingface_hub does. It holds a flock on
 * {@code .locks/<repo>/<blob>.lock}, writes {@code blobs/<blob>.incomplete} in pieces (pausing until the
 * {@code go} file exists, so the test decides when readers have seen the partial state), renames it to the
 * blob, creates the snapshot symlink last, then releases the lock.
 *
 * <p>Arguments: cache, repo folder, commit, file name in the snapshot, source bytes, go file.
 */
public final class PeerDownload {
    public static void main(String[] args) throws Exception {
        Path cache = Path.of(args[0]);
        String folder = args[1];
        Path snapshotFile = cache.resolve(folder).resolve("snapshots").resolve(args[2]).resolve(args[3]);
        byte[] bytes = Files.readAllBytes(Path.of(args[4]));
        Path go = Path.of(args[5]);
        String blob = HubFixture.sha256(bytes);
        Path lock = Files.createDirectories(cache.resolve(".locks").resolve(folder)).resolve(blob + ".lock");
        Files.write(lock, new byte[0]);
        Path blobs = cache.resolve(folder).resolve("blobs");
        Path incomplete = blobs.resolve(blob + ".incomplete");
        try (HeldLock held = NativeAccess.get().tryLock(lock, true); OutputStream out = Files.newOutputStream(incomplete)) {
            if (held == null) {
                throw new IllegalStateException("lock taken by someone else");
            }
            int half = bytes.length / 2;
            out.write(Arrays.copyOf(bytes, half));
            out.flush();
            System.out.println("locked");
            System.out.flush();
            for (long deadline = System.nanoTime() + 60_000_000_000L; !Files.exists(go); ) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("never told to finish");
                }
                Thread.sleep(20);
            }
            out.write(bytes, half, bytes.length - half);
            out.close();
            Files.move(incomplete, blobs.resolve(blob), StandardCopyOption.ATOMIC_MOVE);
            Files.createSymbolicLink(snapshotFile, Path.of("../../blobs").resolve(blob));
        }
        System.out.println("done");
    }
}
