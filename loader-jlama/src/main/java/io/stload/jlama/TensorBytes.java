package io.stload.jlama;

import io.stload.checkpoint.TensorRef;
import java.lang.foreign.MemorySegment;

/**
 * Where a loader's tensor bytes come from: the checkpoint's lazy views, or memory an eager load filled. Every cut is
 * in bytes of the tensor as stored, row-major, viewed as {@code rows x rowBytes}; what is returned is read-only and
 * lives until the loader is closed. Thread-safe: Jlama loads a model's layers in parallel.
 */
interface TensorBytes {
    /**
     * The whole tensor.
     *
     * @param t the tensor
     * @return its bytes
     */
    MemorySegment whole(TensorRef t);

    /**
     * Rows {@code [first, first + count)}: one run of the file.
     *
     * @param t        the tensor
     * @param rowBytes bytes per row
     * @param first    the first row
     * @param count    how many rows
     * @return their bytes, {@code count * rowBytes}
     */
    MemorySegment rows(TensorRef t, long rowBytes, long first, long count);

    /**
     * Bytes {@code [first, first + count)} of every row, packed: one run per row in the file.
     *
     * @param t        the tensor
     * @param rowBytes bytes per row
     * @param first    the first byte of each row taken
     * @param count    bytes taken of each row
     * @return the packed bytes, {@code rows * count}
     */
    MemorySegment columns(TensorRef t, long rowBytes, long first, long count);
}
