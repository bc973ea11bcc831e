package io.stload.store;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.TensorLookup;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One version of the weights, pinned until closed: however many reloads happen meanwhile, its tensors stay
 * those of {@link #version()} and their memory stays valid (a reload in place waits for every lease to close before
 * it writes). Host tensors are read-only: only a reload changes the weights every reader shares. Close it
 * (try-with-resources) as soon as the read is done; a quiesced reload waits for it. After closing, the tensors must
 * not be used. A lease may be used and closed from any thread; closing it twice releases it once.
 *
 * @param <T> what a reader gets for a tensor: a host {@link io.stload.format.Tensor}, a device tensor
 */
public final class Lease<T> implements TensorLookup<T>, AutoCloseable {
    private final WeightStore<T> store;
    private final WeightStore.Version<T> version;
    // A second close must not release the version twice.
    private final AtomicBoolean closed = new AtomicBoolean();

    Lease(WeightStore<T> store, WeightStore.Version<T> version) {
        this.store = store;
        this.version = version;
    }

    /** {@return the version this lease pins: 1 for the first load, one more for each published reload} */
    public long version() {
        return version.number;
    }

    /** {@return the source and the version of it this lease's tensors were loaded from: path, commit or ETags} */
    public SourceVersion source() {
        return version.source;
    }

    /**
     * {@return the tensors by name, in checkpoint order, valid until this lease is closed}
     *
     * @throws StloadException {@link ErrorKind#Usage} once the lease is closed: its version may be gone, or (after a
     *                         reload in place) hold the next version's bytes
     */
    @Override
    public Map<String, T> tensors() {
        if (closed.get()) {
            throw StloadException.usage("this lease of version " + version.number + " is closed: take a new one");
        }
        return version.readers;
    }

    /**
     * Returns a tensor by name.
     *
     * @param name the tensor's name
     * @return the tensor, valid until this lease is closed
     * @throws StloadException {@link ErrorKind#TensorNotFound} when the version holds no tensor of that name
     */
    @Override
    public T tensor(String name) {
        return find(name).orElseThrow(() -> new StloadException(ErrorKind.TensorNotFound, null, "no tensor named `"
                + name + "` in version " + version.number + " (" + version.readers.size() + " tensors, from "
                + version.source + ")"));
    }

    /** Releases the version; once no lease holds a replaced version, its memory is freed. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            store.release(version);
        }
    }
}
