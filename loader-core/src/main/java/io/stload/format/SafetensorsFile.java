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
 * (the caller owns and closes it). Tensors are slice views of the mapping, valid until that arena closes; they
 * may be read from the threads the arena allows.
 */
public final class SafetensorsFile {
    private final Header header;
    private final MemorySegment mapping;

    private SafetensorsFile(Header header, MemorySegment mapping) {
        this.header = header;
        this.mapping = mapping;
    }

    /**
     * Reads and validates the header, then maps the whole file into {@code arena}.
     *
     * @param file  the safetensors file
     * @param arena the arena that owns the mapping; closing it unmaps the file
     * @return the mapped file
     * @throws io.stload.StloadException {@link ErrorKind#Io} if the file cannot be read or mapped, or the header's kind
     *         if it is invalid
     */
    public static SafetensorsFile open(Path file, Arena arena) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return map(HeaderParser.read(ch, file), ch, arena);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, file, "cannot open: " + e.getMessage(), e);
        }
    }

    /**
     * Maps a file whose header was already read, without parsing it again.
     *
     * @param header the file's header
     * @param arena  the arena that owns the mapping; closing it unmaps the file
     * @return the mapped file
     * @throws io.stload.StloadException {@link ErrorKind#Io} if the file cannot be mapped or changed size since its header
     *         was read
     */
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

    /** {@return the file's validated header} */
    public Header header() {
        return header;
    }

    /** {@return the whole file's read-only mapping, owned by the arena given at opening} */
    public MemorySegment mapping() {
        return mapping;
    }

    /** {@return the data area (everything after the header), a view of the mapping} */
    public MemorySegment data() {
        return mapping.asSlice(header.dataStart(), header.dataBytes());
    }

    /**
     * Returns a tensor by name as a view of the mapping.
     *
     * @param name the tensor's name
     * @return the tensor, or null when the file has no such tensor
     */
    public Tensor tensor(String name) {
        TensorInfo info = header.tensor(name);
        return info == null ? null : tensor(info);
    }

    /**
     * Returns a tensor of this file's header as a view of the mapping.
     *
     * @param info an entry of {@link #header()}
     * @return the tensor
     */
    public Tensor tensor(TensorInfo info) {
        return new Tensor(info, mapping.asSlice(header.dataStart() + info.begin(), info.byteSize()));
    }
}
