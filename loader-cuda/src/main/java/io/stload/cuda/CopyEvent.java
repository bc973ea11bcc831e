package io.stload.cuda;

import java.io.IOException;

/** Completion of one batch of copies queued by {@link CopyEngine#copyToDevice}. Closed once, by whoever awaited it. */
public interface CopyEvent extends AutoCloseable {

    /** True once the batch finished (successfully or not); never blocks. */
    boolean isDone() throws IOException;

    /** Blocks until the batch is done; throws if any copy of it failed. */
    void await() throws IOException, InterruptedException;

    /** Seconds the device spent on this batch's copies, measured on the device; valid after {@link #await()}. */
    double copySeconds();

    @Override
    void close();
}
