package io.stload.cuda;

import java.io.IOException;

/** Completion of one batch of copies queued by {@link CopyEngine#copyToDevice}. Closed once, by whoever awaited it. */
public interface CopyEvent extends AutoCloseable {

    /**
     * Checks without blocking whether the batch finished (successfully or not).
     *
     * @return true once it finished
     * @throws IOException if the device cannot be queried
     */
    boolean isDone() throws IOException;

    /**
     * Blocks until the batch is done.
     *
     * @throws IOException if any copy of it failed
     * @throws InterruptedException if the waiting thread is interrupted
     */
    void await() throws IOException, InterruptedException;

    /**
     * {@return the seconds the device spent on this batch's copies, measured on the device; valid after {@link #await()}}
     */
    double copySeconds();

    /** Frees the event; called once, by whoever awaited it. */
    @Override
    void close();
}
