package io.stload.io;

import io.stload.format.Header;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * Executes one strategy of a plan for the files assigned to it: whatever background I/O the strategy does
 * runs on the given executor, and {@link #materialize} returns once a rank-local slice's bytes are in its
 * destination.
 * Consumers may call {@code materialize} concurrently and in any order.
 */
public interface TensorReader extends AutoCloseable {

    /** Starts background I/O, if the strategy has any. */
    void start(ExecutorService io);

    /** Blocks until the slice's bytes are in its destination. */
    void materialize(TensorSlice slice) throws IOException, InterruptedException;

    /** Per file, what happened that the plan did not say (e.g. "O_DIRECT refused: buffered reads"). */
    Map<Header, String> notes();

    @Override
    void close() throws IOException;
}
