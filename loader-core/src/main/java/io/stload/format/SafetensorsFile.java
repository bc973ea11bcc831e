package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A validated file mapped once, read-only, into a {@link MemorySegment} whose lifetime is the given arena's
 * (the caller owns and closes it). Tensors are slice views of the mapping.
 */
public final class SafetensorsFile {
    private final Header header;
    private final MemorySegment mapping;

    private SafetensorsFile(Header header, MemorySegment mapping) {
        this.header = header;
        this.mapping = mapping;
    }

    /** Reads and validates the header, then maps the whole file into {@code arena}. */
    public static SafetensorsFile open(Path file, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return map(HeaderParser.read(ch, file), ch, arena);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, file, "cannot open: " + e.getMessage(), e);
        }
    }

    /** Maps a file whose header was already read; fails if the file changed size since. */
    public static SafetensorsFile map(Header header, Arena arena) {
        try (FileChannel ch = FileChannel.open(header.file(), StandardOpenOption.READ)) {
            return map(header, ch, arena);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, header.file(), "cannot map: " + e.getMessage(), e);
        }
    }

    private static SafetensorsFile map(Header header, FileChannel ch, Arena arena) throws IOException {
        long size = ch.size();
        if (size != header.fileSize()) {
            throw new StloadException(ErrorKind.Io, header.file(), "file changed size from "
                    + header.fileSize() + " to " + size + " bytes after its header was read");
        }
        MemorySegment mapping = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        return new SafetensorsFile(header, mapping);
    }

    public Header header() {
        return header;
    }

    /** The whole file's mapping. */
    public MemorySegment mapping() {
        return mapping;
    }

    /** The data area (everything after the header). */
    public MemorySegment data() {
        return mapping.asSlice(header.dataStart(), header.dataBytes());
    }

    /** The named tensor as a view of the mapping, or null when the file has no such tensor. */
    public Tensor tensor(String name) {
        TensorInfo info = header.tensor(name);
        return info == null ? null : tensor(info);
    }

    public Tensor tensor(TensorInfo info) {
        return new Tensor(info, mapping.asSlice(header.dataStart() + info.begin(), info.byteSize()));
    }
}
