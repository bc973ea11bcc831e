package io.stload.format;

import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A parsed and validated safetensors header: its tensor table sorted by offset (which tiles the data area
 * exactly), the optional {@code __metadata__} map, and where the data area starts in the file.
 */
public final class Header {
    private final Path file;
    private final long fileSize;
    private final long headerLength;
    private final Map<String, String> metadata;
    private final List<TensorInfo> tensors;
    private final Map<String, TensorInfo> byName;

    Header(Path file, long fileSize, long headerLength, Map<String, String> metadata,
           List<TensorInfo> tensorsByOffset, Map<String, TensorInfo> byName) {
        this.file = file;
        this.fileSize = fileSize;
        this.headerLength = headerLength;
        this.metadata = metadata == null ? null : Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableList(tensorsByOffset);
        this.byName = Collections.unmodifiableMap(byName);
    }

    public Path file() {
        return file;
    }

    public long fileSize() {
        return fileSize;
    }

    /** N, the JSON header's length in bytes, as stored in the file's first 8 bytes. */
    public long headerLength() {
        return headerLength;
    }

    /** File offset of the data area: 8 + N. */
    public long dataStart() {
        return 8 + headerLength;
    }

    /** Bytes of tensor data (the data area's length). */
    public long dataBytes() {
        return fileSize - dataStart();
    }

    /** The {@code __metadata__} map, or null when the header has none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors in data-area order. */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /** The tensor with this name, or null. */
    public TensorInfo tensor(String name) {
        return byName.get(name);
    }
}
