package io.stload.store;

import io.stload.format.TensorInfo;
import io.stload.plan.TensorSlice;
import java.util.Map;
import java.util.Optional;

/**
 * A reload swaps weights under code that was built for their names, dtypes and shapes, so a new version
 * must have exactly the serving version's tensor table: for a tensor-parallel rank, the table of what it
 * holds (its slices' shapes, its experts). Checked from the headers, before any memory is spent or overwritten.
 */
final class LayoutCheck {
    private LayoutCheck() {
    }

    /**
     * Why {@code next} cannot replace {@code serving}, or empty when the tables agree.
     *
     * @param serving the slices the serving version holds
     * @param next    the slices this rank would hold of the new version
     */
    static Optional<String> difference(Map<String, TensorSlice> serving, Map<String, TensorSlice> next) {
        for (TensorSlice s : serving.values()) {
            TensorSlice n = next.get(s.name());
            if (n == null) {
                return Optional.of("tensor `" + s.name() + "` of the serving version is missing");
            }
            TensorInfo a = s.local();
            TensorInfo b = n.local();
            if (a.dtype() != b.dtype() || !a.shape().equals(b.shape())) {
                return Optional.of("tensor `" + s.name() + "` is " + b.dtype() + " " + b.shapeString()
                        + ", but the serving version has " + a.dtype() + " " + a.shapeString());
            }
        }
        return next.keySet().stream().filter(name -> !serving.containsKey(name)).findFirst()
                .map(name -> "tensor `" + name + "` is not in the serving version");
    }
}
