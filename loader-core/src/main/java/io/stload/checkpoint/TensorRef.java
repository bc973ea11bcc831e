package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.TensorInfo;

/**
 * A tensor of a checkpoint and the file that holds it.
 *
 * @param info the tensor's entry in its file's header
 * @param file the header of the file that holds it
 */
public record TensorRef(TensorInfo info, Header file) {
    /**
     * Checks that both components are given.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code info} or {@code file} is null
     */
    public TensorRef {
        if (info == null || file == null) {
            throw StloadException.usage("a tensor of a checkpoint needs its entry and its file's header, not null");
        }
    }

    /** {@return the tensor's name} */
    public String name() {
        return info.name();
    }

    /** {@return the absolute file offset of the tensor's first byte} */
    public long fileOffset() {
        return file.dataStart() + info.begin();
    }
}
