package io.stload.format;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.FileIdentity;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.StreamReadConstraints;
import tools.jackson.core.TokenStreamFactory;
import tools.jackson.core.json.JsonFactory;

/**
 * Reads and validates a safetensors header with the reference implementation's rules, in its order:
 * length prefix, UTF-8, JSON shape, then the tensor table (offsets tile the data area, sizes agree with
 * dtype x shape, nothing overflows) and finally that the data area ends exactly at the end of the file.
 * Only the header is read: nothing is mapped, and nothing larger than the header (itself bounded by
 * {@link #MAX_HEADER_SIZE} and by the file's size) is allocated. A null argument is a {@link ErrorKind#Usage}
 * error.
 */
public final class HeaderParser {
    /** The reference's limit on N; larger values are rejected before anything is allocated. */
    public static final long MAX_HEADER_SIZE = 100_000_000L;

    private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final String METADATA_KEY = "__metadata__";
    /** How much of a number its errors quote. */
    private static final int QUOTED_DIGITS = 40;
    private static final Comparator<TensorInfo> BY_OFFSETS = (a, b) -> {
        int c = Long.compareUnsigned(a.begin(), b.begin());
        return c != 0 ? c : Long.compareUnsigned(a.end(), b.end());
    };

    // Strict JSON (no comments, no NaN, no leading zeros: Jackson's defaults) with limits raised to the
    // header's own bound, so a legal header with a 60 KB tensor name is not refused by a parser default.
    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxStringLength((int) MAX_HEADER_SIZE)
                    .maxNameLength((int) MAX_HEADER_SIZE)
                    .maxNumberLength((int) MAX_HEADER_SIZE) // the reference reads a long number as an f64
                    .maxDocumentLength(MAX_HEADER_SIZE)
                    .maxNestingDepth(127) // serde_json's recursion limit: its 128 counts one level more
                    .build())
            // Tensor names are unique per header: adding each to Jackson's shared symbol table costs half
            // the parse time of a 10,000-tensor header and saves nothing.
            .disable(TokenStreamFactory.Feature.CANONICALIZE_PROPERTY_NAMES)
            .build();

    private HeaderParser() {
    }

    /**
     * Reads and validates the header of a file; nothing else of it is read.
     *
     * @param file the safetensors file
     * @return the validated header
     * @throws io.stload.StloadException {@link ErrorKind#Io} for a missing or unreadable file or anything but a regular
     *         file (a FIFO would block the open forever); the matching header kind for an invalid header
     */
    public static Header read(Path file) {
        return read(file, UnknownDtypes.REFUSE);
    }

    /**
     * Reads and validates the header of a file, letting tensors of a dtype the format does not define through as
     * {@link DType#UNKNOWN} if asked to; nothing else of the file is read.
     *
     * @param file    the safetensors file
     * @param unknown whether a dtype the format does not define is an error or read as raw bytes
     * @return the validated header
     * @throws io.stload.StloadException as {@link #read(Path)}
     */
    public static Header read(Path file, UnknownDtypes unknown) {
        requireArguments(file, "a file", file, unknown);
        // The identity is taken before the file is opened: a file replaced in between is caught as replaced later.
        FileIdentity identity = FileIdentity.of(FileChecks.requireRegularFile(file));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(ch, file, unknown).identifiedAs(identity);
        } catch (IOException e) {
            throw FileChecks.failure(file, "cannot read", e);
        }
    }

    /**
     * Reads and validates the header from an open channel, by positional reads.
     *
     * @param ch   the open file
     * @param file names the file in errors and in the result
     * @return the validated header
     * @throws IOException if the channel cannot be read
     * @throws io.stload.StloadException the matching header kind for an invalid header
     */
    public static Header read(FileChannel ch, Path file) throws IOException {
        requireArguments(ch, "a channel", file, UnknownDtypes.REFUSE);
        return read(ch, file, UnknownDtypes.REFUSE);
    }

    private static Header read(FileChannel ch, Path file, UnknownDtypes unknown) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw new StloadException(ErrorKind.HeaderTooSmall, file,
                    "file is " + size + " bytes, shorter than the 8-byte header length");
        }
        ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, prefix, 0, file);
        int n = checkedHeaderLength(prefix.getLong(0), size, file);
        byte[] json = new byte[n];
        readFully(ch, ByteBuffer.wrap(json), 8, file);
        return parseHeader(json, size, file, unknown);
    }

    /**
     * Reads and validates the header through positional reads (e.g. ranged GETs of a remote object): the first 8
     * bytes, then exactly the header.
     *
     * @param source the file's bytes
     * @param file   names the file in errors and in the result
     * @return the validated header
     * @throws io.stload.StloadException {@link ErrorKind#Io} if a read fails; the matching header kind for an invalid
     *         header
     */
    public static Header read(RangeSource source, Path file) {
        return read(source, file, UnknownDtypes.REFUSE);
    }

    /**
     * Reads and validates the header through positional reads, letting tensors of a dtype the format does not
     * define through as {@link DType#UNKNOWN} if asked to.
     *
     * @param source  the file's bytes
     * @param file    names the file in errors and in the result
     * @param unknown whether a dtype the format does not define is an error or read as raw bytes
     * @return the validated header
     * @throws io.stload.StloadException as {@link #read(RangeSource, Path)}
     */
    public static Header read(RangeSource source, Path file, UnknownDtypes unknown) {
        requireArguments(source, "a range source", file, unknown);
        long size = source.size();
        if (size < 8) {
            throw new StloadException(ErrorKind.HeaderTooSmall, file,
                    "file is " + size + " bytes, shorter than the 8-byte header length");
        }
        try {
            byte[] prefix = new byte[8];
            source.read(0, MemorySegment.ofArray(prefix));
            int n = checkedHeaderLength(ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN).getLong(), size, file);
            byte[] json = new byte[n];
            source.read(8, MemorySegment.ofArray(json));
            return parseHeader(json, size, file, unknown).versionedAs(source.version().orElse(null));
        } catch (IOException e) {
            throw FileChecks.failure(file, "cannot read header", e);
        }
    }

    /**
     * Parses a whole file held in memory (tests, fuzzing, and headers fetched by other means).
     *
     * @param fileBytes the file's bytes, at least through the header
     * @param file      names the file in errors and in the result
     * @return the validated header
     * @throws io.stload.StloadException the matching header kind for an invalid header
     */
    public static Header parse(byte[] fileBytes, Path file) {
        requireArguments(fileBytes, "bytes", file, UnknownDtypes.REFUSE);
        if (fileBytes.length < 8) {
            throw new StloadException(ErrorKind.HeaderTooSmall, file,
                    "file is " + fileBytes.length + " bytes, shorter than the 8-byte header length");
        }
        long raw = ByteBuffer.wrap(fileBytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int n = checkedHeaderLength(raw, fileBytes.length, file);
        return parseHeader(Arrays.copyOfRange(fileBytes, 8, 8 + n), fileBytes.length, file, UnknownDtypes.REFUSE);
    }

    /** The checks every public door shares: {@code from} is what the header is read from, {@code what} says so. */
    private static void requireArguments(Object from, String what, Path file, UnknownDtypes unknown) {
        if (from == null) {
            throw StloadException.usage("a header is read from " + what + ", not null");
        }
        StloadException.requireNonNull(file, "a header needs the path that names its file, not null");
        StloadException.requireNonNull(unknown, "a header is read with an UnknownDtypes choice, not null");
    }

    private static int checkedHeaderLength(long n, long fileSize, Path file) {
        if (Long.compareUnsigned(n, MAX_HEADER_SIZE) > 0) {
            // The value is not echoed: it is the file's first 8 bytes, which need not be a length at all.
            throw new StloadException(ErrorKind.HeaderTooLarge, file, "the header length (the first 8 bytes) "
                    + "exceeds the limit of " + MAX_HEADER_SIZE + " bytes (is this a git-lfs pointer or not a "
                    + "safetensors file?)");
        }
        if (8 + n > fileSize) {
            throw new StloadException(ErrorKind.InvalidHeaderLength, file, "header length " + n
                    + " runs past the end of the " + fileSize + "-byte file (truncated download?)");
        }
        return (int) n;
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position, Path file) throws IOException {
        while (dst.hasRemaining()) {
            int r = ch.read(dst, position);
            if (r < 0) {
                throw new StloadException(ErrorKind.Io, file, "file shrank while its header was read");
            }
            position += r;
        }
    }

    private static Header parseHeader(byte[] json, long fileSize, Path file, UnknownDtypes unknown) {
        int bad = Utf8.firstInvalid(json, 0, json.length);
        if (bad >= 0) {
            throw new StloadException(ErrorKind.InvalidHeader, file,
                    "header is not valid UTF-8 (byte " + (8 + bad) + " of the file)");
        }
        RawHeader raw = parseJson(json, new DecodeBudget(file, json.length), file, unknown);
        List<TensorInfo> sorted = validate(raw.tensors, file);
        long dataEnd = sorted.isEmpty() ? 0 : sorted.get(sorted.size() - 1).end();
        long expected = dataEnd + 8 + json.length;
        if (dataEnd < 0 || expected < 0 || expected != fileSize) {
            throw new StloadException(ErrorKind.MetadataIncompleteBuffer, file, "tensors end at byte "
                    + Long.toUnsignedString(dataEnd) + " of the data area but the file holds "
                    + (fileSize - 8 - json.length) + " data bytes (truncated download, or extra bytes appended)");
        }
        return new Header(file, fileSize, json.length, raw.metadata, sorted, raw.byName);
    }

    private record RawHeader(Map<String, String> metadata, List<TensorInfo> tensors, Map<String, TensorInfo> byName) {
    }

    private static RawHeader parseJson(byte[] json, DecodeBudget budget, Path file, UnknownDtypes unknown) {
        if (json.length >= 3 && (json[0] & 0xFF) == 0xEF && (json[1] & 0xFF) == 0xBB && (json[2] & 0xFF) == 0xBF) {
            // Jackson would silently skip a byte-order mark; the reference rejects it.
            throw deserialization(file, "header starts with a byte-order mark");
        }
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), json, 0, json.length)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw deserialization(file, "header is not a JSON object");
            }
            Map<String, String> metadata = null;
            boolean sawMetadata = false;
            List<TensorInfo> tensors = new ArrayList<>();
            Map<String, TensorInfo> byName = new HashMap<>();
            String name;
            while ((name = p.nextName()) != null) {
                requireUnicode(name, file);
                p.nextToken();
                if (METADATA_KEY.equals(name)) {
                    if (sawMetadata) {
                        throw deserialization(file, "duplicate field `__metadata__`");
                    }
                    sawMetadata = true;
                    metadata = readMetadata(p, budget, file);
                    continue;
                }
                TensorInfo info = readTensor(p, name, budget, file, unknown);
                budget.charge(DecodeBudget.PER_TENSOR + DecodeBudget.bytesOf(name), "the tensor table");
                if (byName.putIfAbsent(name, info) != null) {
                    throw new StloadException(ErrorKind.DuplicateTensorName, file,
                            "tensor `" + name + "` is given twice in the header");
                }
                tensors.add(info);
            }
            if (p.currentToken() != JsonToken.END_OBJECT) {
                throw deserialization(file, "header object is not closed");
            }
            if (p.nextToken() != null) {
                throw deserialization(file, "trailing characters after the header object");
            }
            return new RawHeader(metadata, tensors, byName);
        } catch (JacksonException e) {
            // Limit violations (e.g. nesting depth) come without a location.
            long offset = JsonErrors.byteOffset(e, json);
            String where = offset < 0 ? "" : " at byte " + (8 + offset) + " of the file";
            throw deserialization(file, "invalid JSON in header: " + JsonErrors.reason(e) + where);
        }
    }

    private static Map<String, String> readMetadata(JsonParser p, DecodeBudget budget, Path file) {
        if (p.currentToken() == JsonToken.VALUE_NULL) {
            return null;
        }
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw deserialization(file, "`__metadata__` is not a string-to-string map");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        String key;
        while ((key = p.nextName()) != null) {
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                throw deserialization(file, "`__metadata__` value for `" + key + "` is not a string");
            }
            String value = p.getString();
            budget.charge(DecodeBudget.PER_ENTRY + DecodeBudget.bytesOf(key) + DecodeBudget.bytesOf(value), "`__metadata__`");
            metadata.put(requireUnicode(key, file), requireUnicode(value, file));
        }
        return metadata;
    }

    private static TensorInfo readTensor(JsonParser p, String name, DecodeBudget budget, Path file,
                                         UnknownDtypes unknown) {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw deserialization(file, "entry for tensor `" + name + "` is not an object");
        }
        DType dtype = null;
        String dtypeName = null;
        long[] shape = null;
        long[] offsets = null;
        String field;
        while ((field = p.nextName()) != null) {
            JsonToken t = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (dtype != null) {
                        throw deserialization(file, "duplicate field `dtype` in tensor `" + name + "`");
                    }
                    if (t != JsonToken.VALUE_STRING) {
                        throw deserialization(file, "`dtype` of tensor `" + name + "` is not a string");
                    }
                    dtypeName = requireUnicode(p.getString(), file);
                    dtype = DType.fromHeaderName(dtypeName);
                    if (dtype == null) {
                        if (unknown == UnknownDtypes.REFUSE) {
                            throw deserialization(file, "unknown dtype `" + dtypeName + "` for tensor `" + name
                                    + "` (a checkpoint opened to let unknown dtypes through reads it as raw bytes)");
                        }
                        dtype = DType.UNKNOWN;
                    }
                }
                case "shape" -> {
                    if (shape != null) {
                        throw deserialization(file, "duplicate field `shape` in tensor `" + name + "`");
                    }
                    shape = readU64Array(p, name, "shape", -1, budget, file);
                }
                case "data_offsets" -> {
                    if (offsets != null) {
                        throw deserialization(file, "duplicate field `data_offsets` in tensor `" + name + "`");
                    }
                    offsets = readU64Array(p, name, "data_offsets", 2, budget, file);
                }
                default -> skipUnknown(p, file);
            }
        }
        if (dtype == null || shape == null || offsets == null) {
            String missing = dtype == null ? "dtype" : shape == null ? "shape" : "data_offsets";
            throw deserialization(file, "missing field `" + missing + "` in tensor `" + name + "`");
        }
        // A known dtype keeps its constant's name rather than the parsed copy: one string less per tensor.
        return new TensorInfo(name, dtype, Shape.of(shape), offsets[0], offsets[1],
                dtype == DType.UNKNOWN ? dtypeName : dtype.name());
    }

    /**
     * Passes over the value of a field a tensor entry does not define. The reference accepts such fields, but
     * still parses their values: a lone surrogate in a string, or a number beyond an f64's range, is an error.
     */
    private static void skipUnknown(JsonParser p, Path file) {
        int depth = 0;
        do {
            switch (p.currentToken()) {
                case START_OBJECT, START_ARRAY -> depth++;
                case END_OBJECT, END_ARRAY -> depth--;
                case PROPERTY_NAME, VALUE_STRING -> requireUnicode(p.getString(), file);
                case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> requireF64Range(p.getString(), file);
                default -> { }
            }
        } while (depth > 0 && p.nextToken() != null);
    }

    /**
     * A number the reference reads as an f64 (any but an integer within u64 or i64, which stay finite anyway) must
     * not overflow it. Decided from the text: an integer of a million digits is not parsed to find that out.
     */
    private static void requireF64Range(String number, Path file) {
        int digits = number.length() - (number.startsWith("-") ? 1 : 0);
        boolean integer = number.chars().allMatch(c -> c == '-' || (c >= '0' && c <= '9'));
        boolean beyond = integer && digits != 309 ? digits > 309 : Double.isInfinite(Double.parseDouble(number));
        if (beyond) {
            throw deserialization(file, "number " + Printable.start(number, QUOTED_DIGITS)
                    + " in header is out of range");
        }
    }

    private static long[] readU64Array(JsonParser p, String name, String field, int exactLength, DecodeBudget budget,
                                       Path file) {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw deserialization(file, "`" + field + "` of tensor `" + name + "` is not an array");
        }
        long[] values = new long[exactLength < 0 ? 4 : exactLength];
        int n = 0;
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_NUMBER_INT) {
                throw deserialization(file, "`" + field + "` of tensor `" + name
                        + "` holds something other than a non-negative integer");
            }
            long v = readU64(p, name, field, file);
            if (exactLength >= 0 && n == exactLength) {
                throw deserialization(file, "`" + field + "` of tensor `" + name + "` has more than "
                        + exactLength + " elements");
            }
            if (n == values.length) {
                // Every array grown on the way counts: together they are twice the last one.
                budget.charge(16L * n, "the shape of tensor `" + name + "`");
                values = Arrays.copyOf(values, n * 2);
            }
            values[n++] = v;
        }
        if (exactLength >= 0 && n != exactLength) {
            throw deserialization(file, "`" + field + "` of tensor `" + name + "` has " + n
                    + " elements, expected " + exactLength);
        }
        return n == values.length ? values : Arrays.copyOf(values, n);
    }

    /** An unsigned 64-bit integer, returned as the long with the same bits. */
    private static long readU64(JsonParser p, String name, String field, Path file) {
        switch (p.getNumberType()) {
            case INT, LONG -> {
                long v = p.getLongValue();
                // serde_json reads "-0" as the float -0.0, not as an unsigned integer.
                if (v < 0 || (v == 0 && p.getString().startsWith("-"))) {
                    throw deserialization(file, "negative value " + (v == 0 ? "-0" : v) + " in `" + field
                            + "` of tensor `" + name + "`");
                }
                return v;
            }
            default -> {
                if (!fitsU64(p)) {
                    throw deserialization(file, "value " + Printable.start(p.getString(), QUOTED_DIGITS) + " in `"
                            + field + "` of tensor `" + name + "` is outside 0..2^64-1");
                }
                return p.getBigIntegerValue().longValue();
            }
        }
    }

    /** Whether the current number is an integer in 0..2^64-1, decided without parsing one of a million digits. */
    private static boolean fitsU64(JsonParser p) {
        if (p.currentToken() != JsonToken.VALUE_NUMBER_INT) {
            return false;
        }
        String digits = p.getString(); // JSON has no leading zeros: 2^64-1's 20 digits are the most
        if (digits.length() > 20) {
            return false;
        }
        BigInteger v = p.getBigIntegerValue();
        return v.signum() >= 0 && v.compareTo(U64_MAX) <= 0;
    }

    /**
     * The reference's validation: sorted by offsets, tensors must tile the data area from 0 without holes,
     * overlaps or shared ranges, and each one's byte length must equal dtype bits x elements / 8.
     */
    private static List<TensorInfo> validate(List<TensorInfo> tensors, Path file) {
        List<TensorInfo> sorted = new ArrayList<>(tensors);
        sorted.sort(BY_OFFSETS);
        long start = 0;
        for (TensorInfo t : sorted) {
            if (t.begin() != start || Long.compareUnsigned(t.end(), t.begin()) < 0) {
                throw new StloadException(ErrorKind.InvalidOffset, file, "tensor `" + t.name()
                        + "` has data_offsets [" + Long.toUnsignedString(t.begin()) + ", "
                        + Long.toUnsignedString(t.end()) + "] but the previous tensor ends at "
                        + Long.toUnsignedString(start) + " (hole, overlap or shared range)");
            }
            start = t.end();
            long elements = 1;
            for (int i = 0; i < t.rank(); i++) {
                elements = multiplyExactUnsigned(elements, t.dim(i), t, file);
            }
            if (!t.dtype().isKnown()) {
                continue; // its elements' width is unknown: its bytes are whatever its offsets span
            }
            long bits = multiplyExactUnsigned(elements, t.dtype().bits(), t, file);
            if ((bits & 7) != 0) {
                throw new StloadException(ErrorKind.MisalignedSlice, file, "tensor `" + t.name() + "` of "
                        + Long.toUnsignedString(elements) + " " + t.dtype() + " elements does not end on a byte boundary");
            }
            long bytes = bits >>> 3;
            if (t.end() - t.begin() != bytes) {
                throw new StloadException(ErrorKind.TensorInvalidInfo, file, "tensor `" + t.name() + "` is "
                        + t.dtype() + t.shapeString() + " = " + Long.toUnsignedString(bytes)
                        + " bytes, but its data_offsets span " + Long.toUnsignedString(t.end() - t.begin()));
            }
        }
        return sorted;
    }

    private static long multiplyExactUnsigned(long a, long b, TensorInfo t, Path file) {
        if (Math.unsignedMultiplyHigh(a, b) != 0) {
            throw new StloadException(ErrorKind.ValidationOverflow, file, "size of tensor `" + t.name() + "` "
                    + t.dtype() + t.shapeString() + " overflows 64 bits");
        }
        return a * b;
    }

    /**
     * Jackson decodes an escaped lone surrogate ({@code "\\ud800"}) into the string as is; serde_json refuses
     * it, as no UTF-8 text can hold it.
     */
    private static String requireUnicode(String s, Path file) {
        int lone = Utf8.firstLoneSurrogate(s);
        if (lone >= 0) {
            throw deserialization(file, "string in header holds a lone surrogate escape (\\u"
                    + Integer.toHexString(s.charAt(lone)) + ")");
        }
        return s;
    }

    private static StloadException deserialization(Path file, String message) {
        return new StloadException(ErrorKind.InvalidHeaderDeserialization, file, message);
    }
}
