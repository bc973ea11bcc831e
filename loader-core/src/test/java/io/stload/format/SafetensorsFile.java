package io.stload.format;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** A file's validated header and its mapping, for tests that read tensors straight from a file. */
public record SafetensorsFile(Header header, MemorySegment mapping) {
    /** Reads and validates the header, then maps the file into {@code arena}. */
    public static SafetensorsFile open(Path file, Arena arena) {
        return map(HeaderParser.read(file), arena);
    }

    /** Maps a file whose header was read. */
    public static SafetensorsFile map(Header header, Arena arena) {
        return new SafetensorsFile(header, header.map(arena));
    }

    /** The named tensor as a view of the mapping; TensorNotFound when the file holds none of that name. */
    public Tensor tensor(String name) {
        return tensor(header.tensor(name));
    }

    /** A tensor of the header as a view of the mapping. */
    public Tensor tensor(TensorInfo info) {
        return new Tensor(info, mapping.asSlice(header.dataStart() + info.begin(), info.byteSize()));
    }
}
