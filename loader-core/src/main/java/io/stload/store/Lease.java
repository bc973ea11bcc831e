package io.stload.store;

import io.stload.format.Tensor;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One version of the weights, pinned until closed: however many reloads happen meanwhile, its tensors stay
 * those of {@link #version()} and their memory stays valid. Close it (try-with-resources) as soon as the
 * read is done; a quiesced reload waits for it. After closing, the tensors must not be used. A lease may be used and
 * closed from any thread; closing it twice releases it once.
 */
public final class Lease implements AutoCloseable {
    private final WeightStore store;
    private final WeightStore.Version version;
    // A second close must not release the version twice.
    private final AtomicBoolean closed = new AtomicBoolean();

    Lease(WeightStore store, WeightStore.Version version) {
        this.store = store;
        this.version = version;
    }

    /** {@return the version this lease pins} */
    public long version() {
        return version.number;
    }

    /** {@return the tensors by name, in checkpoint order, valid until this lease is closed} */
    public Map<String, Tensor> tensors() {
        return version.weights.tensors();
    }

    /**
     * Returns a tensor of the pinned version.
     *
     * @param name the tensor's name
     * @return the tensor, valid until this lease is closed
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#TensorNotFound} if the version has none by that
     *                                   name
     */
    public Tensor tensor(String name) {
        return version.weights.tensor(name);
    }

    /**
     * Looks a tensor of the pinned version up without failing.
     *
     * @param name the tensor's name
     * @return the tensor, valid until this lease is closed, or empty if the version has none by that name
     */
    public Optional<Tensor> find(String name) {
        return version.weights.find(name);
    }

    /** Releases the version; once no lease holds a replaced version, its memory is freed. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            store.release(version);
        }
    }
}
