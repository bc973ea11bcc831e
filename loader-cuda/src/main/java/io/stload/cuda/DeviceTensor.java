package io.stload.cuda;

import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.Shape;

/**
 * A tensor in device memory: a raw device pointer (for JCuda's {@code Pointer}, a CUDA kernel argument, or a
 * DLPack capsule) with its description; for a tensor-parallel rank, its slice, contiguous and row-major, with the
 * sliced shape. It lives as long as the {@link DeviceWeights} that returned it.
 *
 * @param name          the tensor's name
 * @param dtype         the element type
 * @param shape         the (rank-local) shape, outermost first; immutable
 * @param devicePointer the device address of its first byte, owned by the {@code DeviceWeights}
 * @param byteSize      its size in bytes
 */
public record DeviceTensor(String name, DType dtype, Shape shape, long devicePointer, long byteSize) {
    /**
     * Checks that the tensor is described.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code name}, {@code dtype} or {@code shape} is null
     */
    public DeviceTensor {
        if (name == null || dtype == null || shape == null) {
            throw StloadException.usage("a device tensor needs its name, dtype and shape, not null");
        }
    }
}
