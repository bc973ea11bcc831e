package io.stload.load;

import io.stload.TensorLookup;
import io.stload.format.Tensor;
import io.stload.report.LoadReport;
import io.stload.sink.HostSink;
import java.util.Collections;
import java.util.Map;

/**
 * Every tensor of a load (for a tensor-parallel rank, the slices it holds), materialized in host memory the
 * loader allocated for the caller, plus the report.
 * The caller owns it: closing frees all tensor memory at once, after which the tensors must not be used (reading
 * one then throws {@link IllegalStateException}, never reads freed memory). The tensors may be read from any thread
 * until then, and their bytes are the caller's to change (to quantize or fuse them in place, say).
 */
public final class LoadedWeights implements TensorLookup<Tensor>, AutoCloseable {
    private final HostSink sink;
    private final Map<String, Tensor> tensors;
    private final LoadReport report;

    LoadedWeights(HostSink sink, Map<String, Tensor> tensors, LoadReport report) {
        this.sink = sink;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.report = report;
    }

    /**
     * {@return the tensors by name, in checkpoint order, over memory this object owns; tensors left out by the
     * options and another rank's MoE experts are not among them}
     */
    @Override
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** {@return what the load did and how fast} */
    public LoadReport report() {
        return report;
    }

    /** {@return the host memory held, in bytes (tensor bytes plus alignment padding)} */
    public long memoryBytes() {
        return sink.allocatedBytes();
    }

    /**
     * Frees every tensor's memory at once, once a JDK call still running on a tensor's buffer ({@code asByteBuffer()}
     * handed to a channel or a CRC) has returned; further calls do nothing.
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if such a call holds a tensor 10 s on, or
     *                                   the wait is interrupted: the memory stays, and closing again retries
     */
    @Override
    public void close() {
        sink.close();
    }
}
