package io.stload.load;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Tensor;
import io.stload.report.LoadReport;
import io.stload.sink.HostSink;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;

/**
 * Every tensor of a load (for a tensor-parallel rank, the slices it holds), materialized in host memory the
 * loader allocated for the caller, plus the report.
 * The caller owns it: closing frees all tensor memory at once, after which the tensors must not be used (reading
 * one then throws {@link IllegalStateException}, never reads freed memory). The tensors may be read from any thread
 * until then.
 */
public final class LoadedWeights implements AutoCloseable {
    private final HostSink sink;
    private final Map<String, Tensor> tensors;
    private final LoadReport report;

    LoadedWeights(HostSink sink, Map<String, Tensor> tensors, LoadReport report) {
        this.sink = sink;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.report = report;
    }

    /** {@return the tensors by name, in checkpoint order; another rank's MoE experts are not among them} */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /**
     * Returns a loaded tensor.
     *
     * @param name the tensor's name
     * @return the tensor over memory this object owns
     * @throws StloadException {@link ErrorKind#TensorNotFound} when no tensor of that name was loaded (not in the
     *                         checkpoint, left out by the options, or another rank's expert)
     */
    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new StloadException(ErrorKind.TensorNotFound, null, "no tensor named `" + name + "` among the "
                    + tensors.size() + " loaded");
        }
        return t;
    }

    /**
     * Looks a loaded tensor up without failing.
     *
     * @param name the tensor's name
     * @return the tensor over memory this object owns, or empty when none of that name was loaded
     */
    public Optional<Tensor> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /** {@return what the load did and how fast} */
    public LoadReport report() {
        return report;
    }

    /** {@return the host memory held, in bytes (tensor bytes plus alignment padding)} */
    public long memoryBytes() {
        return sink.allocatedBytes();
    }

    /** Frees every tensor's memory at once; further calls do nothing. */
    @Override
    public void close() {
        sink.close();
    }
}
