package io.stload.format;

import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A parsed and validated safetensors header: its tensor table sorted by offset (which tiles the data area
 * exactly), the optional {@code __metadata__} map, and where the data area starts in the file. Immutable and safe
 * to share between threads; it holds no file open.
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

    /**
     * The same header under another name of the same file (a hard link, or a second path to one file): the
     * parsed table is shared, not copied, so a file reached by many names costs its table once.
     *
     * @param otherName another path to the very file this header was read from
     * @return a header equal to this one but for {@link #file()}
     */
    public Header sharedAs(Path otherName) {
        return new Header(otherName, fileSize, headerLength, metadata, tensors, byName);
    }

    /** {@return the file this header was read from} */
    public Path file() {
        return file;
    }

    /** {@return the file's size in bytes when the header was read} */
    public long fileSize() {
        return fileSize;
    }

    /** {@return N, the JSON header's length in bytes, as stored in the file's first 8 bytes} */
    public long headerLength() {
        return headerLength;
    }

    /** {@return the file offset of the data area: 8 + N} */
    public long dataStart() {
        return 8 + headerLength;
    }

    /** {@return the data area's length in bytes} */
    public long dataBytes() {
        return fileSize - dataStart();
    }

    /** {@return the unmodifiable {@code __metadata__} map, or null when the header has none} */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** {@return the tensors in data-area order, unmodifiable} */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /**
     * Looks a tensor up by name.
     *
     * @param name the tensor's name
     * @return its entry, or null when this file has no such tensor
     */
    public TensorInfo tensor(String name) {
        return byName.get(name);
    }
}
