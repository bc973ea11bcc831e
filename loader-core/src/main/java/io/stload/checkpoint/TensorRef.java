package io.stload.checkpoint;

import io.stload.format.Header;
import io.stload.format.TensorInfo;

/** A tensor of a checkpoint and the file that holds it. */
public record TensorRef(TensorInfo info, Header file) {
    public String name() {
        return info.name();
    }

    /** Absolute file offset of the tensor's first byte. */
    public long fileOffset() {
        return file.dataStart() + info.begin();
    }
}
