package io.stload.store;

import io.stload.checkpoint.TensorRef;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;

/**
 * A reload swaps weights under code that was built for their names, dtypes and shapes, so a new version
 * must have exactly the serving version's tensor table. Checked from the headers, before any memory is spent.
 */
final class LayoutCheck {
    private LayoutCheck() {
    }

    /** Why {@code next} cannot replace {@code serving}, or empty when the tables agree. */
    static Optional<String> difference(Map<String, Tensor> serving, Map<String, TensorRef> next) {
        for (Tensor t : serving.values()) {
            TensorRef n = next.get(t.name());
            if (n == null) {
                return Optional.of("tensor `" + t.name() + "` of the serving version is missing");
            }
            TensorInfo a = t.info();
            TensorInfo b = n.info();
            if (a.dtype() != b.dtype() || !Arrays.equals(a.shape(), b.shape())) {
                return Optional.of("tensor `" + t.name() + "` is " + b.dtype() + " " + b.shapeString()
                        + ", but the serving version has " + a.dtype() + " " + a.shapeString());
            }
        }
        return next.keySet().stream().filter(name -> !serving.containsKey(name)).findFirst()
                .map(name -> "tensor `" + name + "` is not in the serving version");
    }
}
