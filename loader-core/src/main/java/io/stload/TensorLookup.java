package io.stload;

import java.util.Map;
import java.util.Optional;

/**
 * What every type that holds tensors by name shares: the map of them, and the two ways to look one up,
 * {@link #tensor(String)}, which throws, and {@link #find(String)}, which returns an {@link Optional}; neither
 * returns null.
 *
 * @param <T> what is held for each name
 */
public interface TensorLookup<T> {
    /** {@return the tensors by name, in checkpoint order, unmodifiable} */
    Map<String, T> tensors();

    /**
     * Returns a tensor by name.
     *
     * @param name the tensor's name
     * @return the tensor
     * @throws StloadException {@link ErrorKind#TensorNotFound} when none of that name is held;
     *                         {@link ErrorKind#Usage} if {@code name} is null
     */
    default T tensor(String name) {
        return find(name).orElseThrow(() -> new StloadException(ErrorKind.TensorNotFound, null,
                "no tensor named `" + name + "` among the " + tensors().size() + " loaded"));
    }

    /**
     * Looks a tensor up without failing.
     *
     * @param name the tensor's name
     * @return the tensor, or empty when none of that name is held
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} is null
     */
    default Optional<T> find(String name) {
        StloadException.requireNonNull(name, "a tensor is looked up by its name, not null");
        return Optional.ofNullable(tensors().get(name));
    }
}
