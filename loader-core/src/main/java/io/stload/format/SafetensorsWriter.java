package io.stload.format;

import io.stload.Printable;
import io.stload.StloadException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.json.JsonFactory;

/**
 * Writes safetensors files the reference reads back: header padded with spaces to a multiple of 8,
 * tensors laid out back to back in the order given, optional {@code __metadata__}. Data is streamed, so
 * files far larger than memory can be written. The file appears under its name only once complete
 * (written beside it under a temporary name, then renamed), so a reader never sees half a file.
 */
public final class SafetensorsWriter {
    private static final JsonFactory JSON = JsonFactory.builder().build();

    /**
     * A tensor to be written; its byte size follows from its dtype and shape.
     *
     * @param name  the tensor's name, unique in the file and not {@code __metadata__}
     * @param dtype the element type
     * @param shape the dimensions, outermost first; copied
     */
    public record Entry(String name, DType dtype, long[] shape) {
        /**
         * Copies the shape, so a caller's later change cannot alter the header.
         *
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} for {@link DType#UNKNOWN}: the
         *         writer writes the format's dtypes only; for a name that is not Unicode text (a lone surrogate);
         *         if any component is null
         */
        public Entry {
            if (name == null || dtype == null || shape == null) {
                throw StloadException.usage("a tensor to write needs its name, dtype and shape, not null");
            }
            requireText("tensor name", name);
            if (!dtype.isKnown()) {
                throw io.stload.StloadException.usage(name + ": the writer writes the format's dtypes only");
            }
            shape = shape.clone();
        }

        /**
         * A tensor to be written, of a shape as a header gives it.
         *
         * @param name  the tensor's name, unique in the file and not {@code __metadata__}
         * @param dtype the element type
         * @param shape the dimensions, outermost first
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} for {@link DType#UNKNOWN}; if any
         *         argument is null
         */
        public Entry(String name, DType dtype, Shape shape) {
            this(name, dtype, shape == null ? null : shape.toArray());
        }

        /**
         * Returns the tensor's size in bytes. Dimensions are unsigned 64-bit values, as in the format: a
         * zero-element tensor may have a dimension of 2^63 or more (its bits held in a negative long).
         *
         * @return dtype bits times every dimension, over 8
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if the size is not a whole number of
         *         bytes, or if the element count, multiplied out in order, or the size in bits overflows 64 unsigned
         *         bits: a shape the reader (like the reference) refuses
         */
        public long byteSize() {
            long elements = 1;
            for (long d : shape) {
                if (Math.unsignedMultiplyHigh(elements, d) != 0) {
                    throw StloadException.usage("element count of " + name + " overflows 64 bits");
                }
                elements *= d;
            }
            if (Math.unsignedMultiplyHigh(elements, dtype.bits()) != 0) {
                throw StloadException.usage("size of " + name + " overflows 64 bits");
            }
            long bits = elements * dtype.bits();
            if ((bits & 7) != 0) {
                throw StloadException.usage(name + ": " + dtype + " tensor of this shape is not a whole number of bytes");
            }
            return bits >>> 3;
        }
    }

    /**
     * A tensor with its bytes in memory.
     *
     * @param name  the tensor's name
     * @param dtype the element type
     * @param shape the dimensions, outermost first
     * @param data  exactly the tensor's bytes, little-endian; not copied
     */
    public record TensorData(String name, DType dtype, long[] shape, byte[] data) {
        /**
         * Checks that every component is given, and the bytes are the tensor's size.
         *
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if any component is null, the entry is
         *         not one ({@link Entry}), or {@code data} is not exactly its size
         */
        public TensorData {
            if (name == null || dtype == null || shape == null || data == null) {
                throw StloadException.usage("a tensor to write needs its name, dtype, shape and bytes, not null");
            }
            long size = new Entry(name, dtype, shape).byteSize();
            if (data.length != size) {
                throw StloadException.usage(Printable.escape(name) + ": " + data.length + " bytes given for a " + dtype
                        + " tensor of " + Long.toUnsignedString(size) + " bytes");
            }
        }

        /** {@return the entry this tensor is written as} */
        public Entry entry() {
            return new Entry(name, dtype, shape);
        }
    }

    /** Supplies a tensor's bytes while the file is written; called once per entry, in order, on the writing thread. */
    @FunctionalInterface
    public interface DataSource {
        /**
         * Writes one tensor's bytes.
         *
         * @param entry the tensor being written
         * @param out   the file; exactly {@code entry.byteSize()} bytes must be written to it
         * @throws IOException if the bytes cannot be produced or written
         */
        void write(Entry entry, WritableByteChannel out) throws IOException;
    }

    private SafetensorsWriter() {
    }

    /**
     * Writes tensors held in memory as one file, in the given order.
     *
     * @param file     the file to create or replace, atomically
     * @param metadata the {@code __metadata__} map, or null for none
     * @param tensors  the tensors
     * @throws IOException if the file cannot be written; no partial file is left under its name
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if a name repeats or a shape is invalid; if
     *         {@code file} or {@code tensors} is null
     */
    public static void write(Path file, Map<String, String> metadata, List<TensorData> tensors) throws IOException {
        StloadException.requireNonNull(tensors, "the tensors to write are a list, not null");
        Map<String, byte[]> data = new HashMap<>();
        for (TensorData t : tensors) {
            data.put(t.name(), t.data());
        }
        write(file, metadata, tensors.stream().map(TensorData::entry).toList(),
                (e, out) -> {
                    ByteBuffer b = ByteBuffer.wrap(data.get(e.name()));
                    while (b.hasRemaining()) {
                        out.write(b);
                    }
                });
    }

    /**
     * Writes a file whose tensor bytes are streamed from {@code source}, so it may be far larger than memory.
     *
     * @param file     the file to create or replace, atomically
     * @param metadata the {@code __metadata__} map, or null for none
     * @param entries  the tensors, in the order their bytes are written
     * @param source   writes each entry's bytes
     * @throws IOException if the file cannot be written or the source writes the wrong number of bytes; no partial file
     *         is left under its name
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if a name repeats or a shape is invalid; if
     *         {@code file}, {@code entries} or {@code source} is null
     */
    public static void write(Path file, Map<String, String> metadata, List<Entry> entries, DataSource source)
            throws IOException {
        write(file, metadata, entries, source, false);
    }

    /**
     * Writes a file whose tensor bytes are streamed from {@code source}, optionally recording each tensor's SHA-256 in
     * the {@code __metadata__} ({@link TensorDigest}), which a reload compares to skip unchanged tensors. The digests
     * are of the bytes as written: the header is written with placeholders of the same length, the data streamed,
     * then each tensor read back from the new file, hashed, and its placeholder overwritten, before the file appears
     * under its name.
     *
     * @param file     the file to create or replace, atomically
     * @param metadata the {@code __metadata__} map, or null for none; with digests, its own entries under
     *                 {@link TensorDigest#KEY_PREFIX} are replaced
     * @param entries  the tensors, in the order their bytes are written
     * @param source   writes each entry's bytes
     * @param digests  whether to record each tensor's SHA-256
     * @throws IOException if the file cannot be written or the source writes the wrong number of bytes; no partial file
     *         is left under its name
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if a name repeats or a shape is invalid; if
     *         {@code file}, {@code entries} or {@code source} is null
     */
    public static void write(Path file, Map<String, String> metadata, List<Entry> entries, DataSource source,
                             boolean digests) throws IOException {
        if (file == null || entries == null || source == null) {
            throw StloadException.usage("a file is written to a path, of entries and a source of their bytes, "
                    + "none of them null");
        }
        Map<String, String> placeholders = digests ? placeholders(entries) : Map.of();
        Map<String, String> meta = digests ? withDigestPlaceholders(metadata, placeholders) : metadata;
        byte[] header = header(meta, entries);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeFully(ch, prefix);
            writeFully(ch, ByteBuffer.wrap(header));
            for (Entry e : entries) {
                long before = ch.position();
                source.write(e, ch);
                long written = ch.position() - before;
                if (written != e.byteSize()) {
                    throw new IOException("data source wrote " + written + " bytes for " + e.name()
                            + ", expected " + e.byteSize());
                }
            }
            if (digests) {
                recordDigests(ch, header, entries, placeholders);
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** A header is UTF-8 (the reference and the loader refuse anything else): a lone surrogate has no UTF-8 form. */
    private static void requireText(String what, String text) {
        int lone = Utf8.firstLoneSurrogate(text);
        if (lone >= 0) {
            throw StloadException.usage("a " + what + " is Unicode text, and one has a lone surrogate (U+"
                    + HexFormat.of().withUpperCase().toHexDigits(text.charAt(lone)) + ") after `"
                    + Printable.escape(text.substring(0, lone)) + "`");
        }
    }

    /**
     * Builds the JSON header for these entries, space-padded to a multiple of 8 bytes.
     *
     * @param metadata the {@code __metadata__} map, or null for none
     * @param entries  the tensors, in data order
     * @return the header's bytes, without the 8-byte length before them
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if a name repeats, a shape is invalid,
     *         the tensors add up past {@code 2^63 - 1} bytes, a metadata key or value is null or not Unicode text, or
     *         the header would be larger than {@link HeaderParser#MAX_HEADER_SIZE}; if {@code entries} is null
     */
    public static byte[] header(Map<String, String> metadata, List<Entry> entries) {
        StloadException.requireNonNull(entries, "a header lists its entries, not null");
        Set<String> names = new HashSet<>();
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(ObjectWriteContext.empty(), json)) {
            g.writeStartObject();
            if (metadata != null) {
                g.writeName("__metadata__");
                g.writeStartObject();
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    if (m.getKey() == null || m.getValue() == null) {
                        throw StloadException.usage("__metadata__ maps strings to strings, not null (key `"
                                + (m.getKey() == null ? "null" : Printable.escape(m.getKey())) + "`)");
                    }
                    requireText("__metadata__ key", m.getKey());
                    requireText("__metadata__ value", m.getValue());
                    g.writeStringProperty(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Entry e : entries) {
                if (!names.add(e.name()) || e.name().equals("__metadata__")) {
                    throw StloadException.usage("tensor name given twice or reserved: " + Printable.escape(e.name()));
                }
                long size = e.byteSize();
                if (size < 0 || size > Long.MAX_VALUE - offset) { // unsigned 2^63 or more, or a sum past it
                    throw StloadException.usage(e.name() + ": the file's tensors would add up past 2^63 - 1 bytes, "
                            + "more than a file can hold");
                }
                long end = offset + size;
                g.writeName(e.name());
                g.writeStartObject();
                g.writeStringProperty("dtype", e.dtype().name());
                g.writeName("shape");
                g.writeStartArray();
                for (long d : e.shape()) {
                    if (d >= 0) {
                        g.writeNumber(d);
                    } else {
                        g.writeNumber(new BigInteger(Long.toUnsignedString(d))); // 2^63 or more, unsigned
                    }
                }
                g.writeEndArray();
                g.writeName("data_offsets");
                g.writeStartArray();
                g.writeNumber(offset);
                g.writeNumber(end);
                g.writeEndArray();
                g.writeEndObject();
                offset = end;
            }
            g.writeEndObject();
        }
        int padding = (8 - json.size() % 8) % 8;
        if (json.size() + padding > HeaderParser.MAX_HEADER_SIZE) {
            throw StloadException.usage("the header would be " + (json.size() + padding) + " bytes, more than the "
                    + HeaderParser.MAX_HEADER_SIZE + " a reader takes: fewer tensors or less metadata per file");
        }
        json.writeBytes(" ".repeat(padding).getBytes(StandardCharsets.US_ASCII));
        return json.toByteArray();
    }

    /**
     * One placeholder per tensor, unique in the header: 64 hex digits drawn at random (a user's value equal to one
     * is as likely as a SHA-256 collision), so each is found by a plain search of the header's bytes.
     */
    private static Map<String, String> placeholders(List<Entry> entries) {
        Map<String, String> out = new HashMap<>();
        SecureRandom random = new SecureRandom();
        byte[] bytes = new byte[TensorDigest.HEX_DIGITS / 2];
        for (Entry e : entries) {
            random.nextBytes(bytes);
            out.put(e.name(), TensorDigest.hex(bytes));
        }
        return out;
    }

    private static Map<String, String> withDigestPlaceholders(Map<String, String> metadata,
                                                              Map<String, String> placeholders) {
        Map<String, String> meta = new LinkedHashMap<>();
        if (metadata != null) {
            metadata.forEach((k, v) -> {
                if (!k.startsWith(TensorDigest.KEY_PREFIX)) {
                    meta.put(k, v);
                }
            });
        }
        placeholders.forEach((name, placeholder) -> meta.put(TensorDigest.key(name), placeholder));
        return meta;
    }

    /** Hashes each tensor as written (read back from the file) and puts its digest where its placeholder is. */
    private static void recordDigests(FileChannel ch, byte[] header, List<Entry> entries,
                                      Map<String, String> placeholders) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
        long at = 8 + header.length;
        for (Entry e : entries) {
            MessageDigest sha = TensorDigest.sha256();
            long end = at + e.byteSize();
            while (at < end) {
                buffer.clear().limit((int) Math.min(buffer.capacity(), end - at));
                int n = ch.read(buffer, at);
                if (n <= 0) {
                    throw new IOException("file ended while reading back " + e.name() + " for its digest");
                }
                buffer.flip();
                sha.update(buffer);
                at += n;
            }
            byte[] placeholder = placeholders.get(e.name()).getBytes(StandardCharsets.US_ASCII);
            int pos = indexOf(header, placeholder);
            if (pos < 0) {
                throw new IllegalStateException("the digest placeholder of " + e.name() + " is not in the header");
            }
            writeFully(ch, ByteBuffer.wrap(TensorDigest.hex(sha.digest()).getBytes(StandardCharsets.US_ASCII)),
                    8 + pos);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        while (b.hasRemaining()) {
            position += ch.write(b, position);
        }
    }

    private static void writeFully(WritableByteChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
