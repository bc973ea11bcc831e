package io.stload.format;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
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

    /** A tensor to be written: name, dtype and shape; its byte size follows from them. */
    public record Entry(String name, DType dtype, long[] shape) {
        public Entry {
            shape = shape.clone();
        }

        public long byteSize() {
            long bits = dtype.bits();
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException("negative dimension in " + name);
                }
                bits = Math.multiplyExact(bits, d);
            }
            if (bits % 8 != 0) {
                throw new IllegalArgumentException(name + ": " + dtype + " tensor of this shape is not a whole number of bytes");
            }
            return bits / 8;
        }
    }

    /** A tensor with its bytes in memory. */
    public record TensorData(String name, DType dtype, long[] shape, byte[] data) {
        public Entry entry() {
            return new Entry(name, dtype, shape);
        }
    }

    /** Supplies a tensor's bytes; must write exactly {@code entry.byteSize()} bytes to {@code out}. */
    @FunctionalInterface
    public interface DataSource {
        void write(Entry entry, WritableByteChannel out) throws IOException;
    }

    private SafetensorsWriter() {
    }

    public static void write(Path file, Map<String, String> metadata, List<TensorData> tensors) throws IOException {
        Map<String, byte[]> data = new java.util.HashMap<>();
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

    public static void write(Path file, Map<String, String> metadata, List<Entry> entries, DataSource source)
            throws IOException {
        byte[] header = header(metadata, entries);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
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
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The JSON header for these entries, space-padded to a multiple of 8 bytes. */
    public static byte[] header(Map<String, String> metadata, List<Entry> entries) {
        Set<String> names = new HashSet<>();
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(ObjectWriteContext.empty(), json)) {
            g.writeStartObject();
            if (metadata != null) {
                g.writeName("__metadata__");
                g.writeStartObject();
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    g.writeStringProperty(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Entry e : entries) {
                if (!names.add(e.name()) || e.name().equals("__metadata__")) {
                    throw new IllegalArgumentException("tensor name given twice or reserved: " + e.name());
                }
                long end = offset + e.byteSize();
                g.writeName(e.name());
                g.writeStartObject();
                g.writeStringProperty("dtype", e.dtype().name());
                g.writeName("shape");
                g.writeStartArray();
                for (long d : e.shape()) {
                    g.writeNumber(d);
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
        json.writeBytes(" ".repeat(padding).getBytes(StandardCharsets.US_ASCII));
        return json.toByteArray();
    }

    private static void writeFully(WritableByteChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
