package io.stload.store;

import io.stload.checkpoint.LocalRemoteFolder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A local checkpoint folder seen as a remote one, read one request at a time in small parts, whose data reads fail
 * from the {@code failFrom}-th on (0: the first; -1: never): a read failure injected at a chosen point of a load.
 * Header reads (the first bytes of each file) never fail, so the checkpoint always opens.
 */
final class FaultyFolder extends LocalRemoteFolder {
    private final int failFrom;
    final AtomicInteger dataReads = new AtomicInteger();

    FaultyFolder(Path dir, int failFrom) {
        super(dir, "faulty://" + dir.getFileName() + "/", 1, 1024, 0);
        this.failFrom = failFrom;
    }

    @Override
    protected void beforeRead(String name, long offset) throws IOException {
        boolean header = offset <= 8;
        if (!header && failFrom >= 0 && dataReads.getAndIncrement() >= failFrom) {
            throw new IOException("injected read failure at byte " + offset);
        }
    }
}
