package io.stload.format;

import static io.stload.format.LittleEndian.F64;
import static io.stload.format.LittleEndian.I16;
import static io.stload.format.LittleEndian.I32;
import static io.stload.format.LittleEndian.I64;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.MappedFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor's description and a bounds-checked view of its bytes (no copy), with typed access: elements by flat
 * row-major index or by one index per dimension, rows as views of their own, and bulk decoding into a
 * {@code float[]} or a {@link FloatBuffer} (through {@link Convert}'s loops). Elements are little-endian, as the format
 * stores them. Each accessor checks the dtype: one that does not fit it throws {@link StloadException} of kind
 * {@link ErrorKind#Usage} (an integer accessor on floats, say) or, for a dtype that does not decode to floats,
 * {@link ErrorKind#Unsupported}; an index outside the tensor throws {@link IndexOutOfBoundsException}.
 *
 * <p>The view is valid while the memory it views is: the {@code Checkpoint}, {@code LoadedWeights} or lease it came
 * from. Reading a view after its owner closed throws {@link StloadException} of kind {@link ErrorKind#Usage} (a read
 * racing the close may meet the JDK's {@link IllegalStateException} instead). A tensor never changes what it
 * describes or which bytes it views, and may be read from any thread while its owner is open. Its bytes are writable
 * only where they are the caller's own ({@code LoadedWeights}); those of a checkpoint's view and of a lease (serving
 * weights every reader shares) are read-only, and a write to them throws {@link IllegalArgumentException}.
 *
 * <p>A lazy view of a local checkpoint file ({@code Checkpoint.viewTensor}) is the file's mapping: should the file be
 * truncated under it, every method here that reads elements throws {@link StloadException} of kind
 * {@link ErrorKind#Io} naming the file, never a JVM error. {@link #data()} itself is the raw view: code handed it
 * (a hash, a native call) reads the mapping unguarded; give such code a copy ({@link #copyTo}) instead.
 */
public final class Tensor {
    /** Elements decoded at a time into a {@link FloatBuffer} of another byte order. */
    private static final int STAGE = 4096;

    private final TensorInfo info;
    private final MemorySegment data;
    /** The file whose mapping {@link #data} views, or null when it is memory that cannot fault. */
    private final Path mappedFile;
    /**
     * The elements {@link #data} holds, for the typed reads' bounds: checked here because a segment's own check of an
     * element index multiplies it by the width first, and a huge index wraps to a valid offset.
     */
    private final long elements;

    /**
     * A tensor over memory that stays readable as long as its owner is open (host memory, a copy).
     *
     * @param info the tensor's name, dtype, shape and place in its file
     * @param data the tensor's bytes; not owned by this tensor
     */
    public Tensor(TensorInfo info, MemorySegment data) {
        this(info, data, null);
    }

    private Tensor(TensorInfo info, MemorySegment data, Path mappedFile) {
        if (info == null || data == null) {
            throw StloadException.usage("a tensor needs its info and its bytes, not null");
        }
        if (data.byteSize() != info.byteSize()) {
            throw StloadException.usage(info.name() + " is " + info.byteSize() + " bytes, but the memory given for it is "
                    + data.byteSize());
        }
        // A caller's own entry may disagree with itself (a parsed header's never does): every typed read below
        // trusts that the shape covers exactly the bytes.
        if (info.dtype().isKnown() && new SafetensorsWriter.Entry(info.name(), info.dtype(), info.shape()).byteSize()
                != info.byteSize()) {
            throw StloadException.usage(info.name() + ": a " + info.dtype() + " tensor of shape " + info.shape()
                    + " is not " + info.byteSize() + " bytes");
        }
        this.info = info;
        this.data = data;
        this.mappedFile = mappedFile;
        int bits = info.dtype().bits(); // below 8 for the sub-byte types and an unknown one, which no typed read takes
        this.elements = bits < 8 ? 0 : data.byteSize() / (bits / 8);
    }

    /**
     * A tensor over a view of a file's mapping: its typed reads turn a fault of the mapping (the file truncated under
     * it) into {@link ErrorKind#Io} naming the file, never a JVM error.
     *
     * @param info the tensor's name, dtype, shape and place in its file
     * @param view the tensor's bytes in the mapping; not owned by this tensor
     * @param file the mapped file
     * @return the tensor
     */
    public static Tensor ofMapping(TensorInfo info, MemorySegment view, Path file) {
        StloadException.requireNonNull(file, "a view of a mapping needs the mapped file, not null");
        return new Tensor(info, view, file);
    }

    /** {@return the tensor's name, dtype, shape and place} */
    public TensorInfo info() {
        return info;
    }

    /**
     * The tensor's bytes, unguarded: for a view of a file's mapping, a read of a page the file no longer has throws
     * {@link InternalError} in Java code and crashes native code; the typed methods here guard their reads.
     *
     * @return the bytes, not owned by this tensor
     */
    public MemorySegment data() {
        return data;
    }

    /** {@return the tensor's name in the checkpoint} */
    public String name() {
        return info.name();
    }

    /** {@return the element type} */
    public DType dtype() {
        return info.dtype();
    }

    /** {@return the shape, outermost dimension first; immutable, the same instance every call} */
    public Shape shape() {
        return info.shape();
    }

    /** {@return the size of {@link #data()} in bytes} */
    public long byteSize() {
        return data.byteSize();
    }

    /** {@return the number of elements, 1 for a scalar} */
    public long elementCount() {
        return info.elementCount();
    }

    // ---- where an element is ----

    /**
     * The flat row-major index of the element at one index per dimension, outermost first.
     *
     * @param indices one index per dimension
     * @return the flat index, for the typed accessors
     * @throws StloadException {@link ErrorKind#Usage} if the count of indices (none for null) is not the tensor's rank
     * @throws IndexOutOfBoundsException if an index lies outside its dimension
     */
    public long index(long... indices) {
        Shape shape = info.shape();
        if (indices == null || indices.length != shape.rank()) {
            throw StloadException.usage(name() + " has " + shape.rank() + " dimensions " + shape + "; "
                    + (indices == null ? "null" : indices.length) + " indices given");
        }
        long flat = 0;
        for (int d = 0; d < indices.length; d++) {
            long n = shape.dim(d);
            if (indices[d] < 0 || Long.compareUnsigned(indices[d], n) >= 0) {
                throw new IndexOutOfBoundsException("index " + indices[d] + " of dimension " + d + " of " + name()
                        + shape + " is outside it");
            }
            flat = flat * n + indices[d];
        }
        return flat;
    }

    /**
     * One index of the outermost dimension, as a tensor of its own: a view of the same memory (no copy), with the
     * inner dimensions as its shape and its place inside this tensor's bytes as its offsets.
     *
     * @param i the row, from 0
     * @return the row's view, valid as long as this tensor is
     * @throws StloadException {@link ErrorKind#Usage} for a scalar; {@link ErrorKind#Unsupported} for a row that
     *         does not start on a byte (sub-byte dtypes) or of a dtype whose width is unknown
     * @throws IndexOutOfBoundsException if {@code i} lies outside the outermost dimension
     */
    public Tensor row(long i) {
        Shape shape = info.shape();
        if (shape.rank() == 0) {
            throw StloadException.usage(name() + " is a scalar: it has no rows");
        }
        if (!dtype().isKnown()) {
            throw new StloadException(ErrorKind.Unsupported, null, name() + ": dtype `" + info.dtypeName()
                    + "` is not one of the format's: its rows' size is unknown");
        }
        if (i < 0 || Long.compareUnsigned(i, shape.dim(0)) >= 0) {
            throw new IndexOutOfBoundsException("row " + i + " of " + name() + shape + " is outside it");
        }
        long rowBits = shape.stride(0) * dtype().bits();
        if (rowBits % 8 != 0) {
            throw new StloadException(ErrorKind.Unsupported, null, name() + ": rows of " + dtype() + shape
                    + " do not start on a byte boundary");
        }
        long rowBytes = rowBits / 8;
        long at = i * rowBytes;
        return new Tensor(info.at(shape.inner(), info.begin() + at, info.begin() + at + rowBytes),
                data.asSlice(at, rowBytes), mappedFile);
    }

    // ---- one element ----
    // Each read below loads its own width into its own type, inside a guard of its own. One read shared by all of them,
    // widening to a long, compiled to a load that sign-extends, which HotSpot could not step over when the mapping
    // faulted: the JVM crashed instead of raising the error the guard turns into Io (TypedViewTruncationTest).

    /**
     * Reads one byte-wide element: BOOL, U8 and I8, and the 8-bit float types as raw bytes.
     *
     * @param index flat row-major element index
     * @return the element's byte
     * @throws StloadException {@link ErrorKind#Usage} if the dtype is not one byte wide
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public byte getByte(long index) {
        require(DType.BOOL, DType.U8, DType.I8, DType.F8_E4M3, DType.F8_E5M2, DType.F8_E8M0,
                DType.F8_E4M3FNUZ, DType.F8_E5M2FNUZ);
        if (mappedFile == null) {
            return data.get(ValueLayout.JAVA_BYTE, checked(index));
        }
        try {
            byte b = data.get(ValueLayout.JAVA_BYTE, checked(index));
            MappedFile.raisePendingFault();
            return b;
        } catch (InternalError e) {
            throw MappedFile.truncated(mappedFile, e);
        }
    }

    /**
     * Reads one I16 or U16 element (U16 as its bit pattern).
     *
     * @param index flat row-major element index
     * @return the element
     * @throws StloadException {@link ErrorKind#Usage} if the dtype is neither I16 nor U16
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public short getShort(long index) {
        require(DType.I16, DType.U16);
        if (mappedFile == null) {
            return data.getAtIndex(I16, checked(index));
        }
        try {
            short v = data.getAtIndex(I16, checked(index));
            MappedFile.raisePendingFault();
            return v;
        } catch (InternalError e) {
            throw MappedFile.truncated(mappedFile, e);
        }
    }

    /**
     * Reads one I32 or U32 element (U32 as its bit pattern).
     *
     * @param index flat row-major element index
     * @return the element
     * @throws StloadException {@link ErrorKind#Usage} if the dtype is neither I32 nor U32
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public int getInt(long index) {
        require(DType.I32, DType.U32);
        if (mappedFile == null) {
            return data.getAtIndex(I32, checked(index));
        }
        try {
            int v = data.getAtIndex(I32, checked(index));
            MappedFile.raisePendingFault();
            return v;
        } catch (InternalError e) {
            throw MappedFile.truncated(mappedFile, e);
        }
    }

    /**
     * Reads one I64 or U64 element (U64 as its bit pattern).
     *
     * @param index flat row-major element index
     * @return the element
     * @throws StloadException {@link ErrorKind#Usage} if the dtype is neither I64 nor U64
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public long getLong(long index) {
        require(DType.I64, DType.U64);
        if (mappedFile == null) {
            return data.getAtIndex(I64, checked(index));
        }
        try {
            long v = data.getAtIndex(I64, checked(index));
            MappedFile.raisePendingFault();
            return v;
        } catch (InternalError e) {
            throw MappedFile.truncated(mappedFile, e);
        }
    }

    /**
     * Reads one element as a float: F32 as is; F16, BF16, F8_E4M3 and F8_E5M2 widened exactly; an integer type as
     * the nearest float (exact up to 2^24 in magnitude, U32 and U64 read unsigned).
     *
     * @param index flat row-major element index
     * @return the element as a float
     * @throws StloadException {@link ErrorKind#Unsupported} if the dtype does not decode to floats
     *         ({@link Convert#decodesToF32})
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public float getFloat(long index) {
        requireDecodable();
        if (mappedFile == null) {
            return Convert.f32At(info.dtype(), data, checked(index));
        }
        // Decoded from a copy, never from the mapping: a read of a lost page leaves garbage in its register until the
        // fault surfaces, and a decoder that looks that garbage up in a table reads anywhere (the JVM crashes).
        int width = dtype().byteSize();
        MemorySegment element = MemorySegment.ofArray(new long[1]).asSlice(0, width);
        copyTo(checked(index) * width, element);
        return Convert.f32At(info.dtype(), element, 0);
    }

    /**
     * Reads the element at one index per dimension as a float, as {@link #getFloat(long)}.
     *
     * @param indices one index per dimension, outermost first (two or more; one is {@link #getFloat(long)})
     * @return the element as a float
     * @throws StloadException {@link ErrorKind#Usage} if the count of indices (none for null) is not the tensor's rank;
     *         {@link ErrorKind#Unsupported} if the dtype does not decode to floats
     * @throws IndexOutOfBoundsException if an index lies outside its dimension
     */
    public float getFloat(long... indices) {
        return getFloat(index(indices));
    }

    /**
     * Reads one F64 element.
     *
     * @param index flat row-major element index
     * @return the element
     * @throws StloadException {@link ErrorKind#Usage} if the dtype is not F64
     * @throws IndexOutOfBoundsException if the index is outside the tensor
     */
    public double getDouble(long index) {
        require(DType.F64);
        if (mappedFile == null) {
            return data.getAtIndex(F64, checked(index));
        }
        try {
            double v = data.getAtIndex(F64, checked(index));
            MappedFile.raisePendingFault();
            return v;
        } catch (InternalError e) {
            throw MappedFile.truncated(mappedFile, e);
        }
    }

    // ---- in bulk ----

    /**
     * Decodes every element into a new array, as {@link #getFloat(long)} reads one.
     *
     * @return one float per element, row-major
     * @throws StloadException {@link ErrorKind#Unsupported} if the dtype does not decode to floats or the elements do
     *         not fit one array
     */
    public float[] toFloatArray() {
        long n = elementCount();
        requireDecodable();
        if (n > Integer.MAX_VALUE - 8) {
            throw new StloadException(ErrorKind.Unsupported, null, name() + ": " + n
                    + " elements do not fit one float array");
        }
        float[] out = new float[(int) n];
        toFloats(out, 0);
        return out;
    }

    /**
     * Decodes every element into {@code dst} from {@code offset} on, as {@link #getFloat(long)} reads one, through
     * {@link Convert}'s bulk loops (vectorized for BF16).
     *
     * @param dst    the array
     * @param offset where the first element goes
     * @throws StloadException {@link ErrorKind#Unsupported} if the dtype does not decode to floats;
     *         {@link ErrorKind#Usage} if {@code dst} is null
     * @throws IndexOutOfBoundsException if {@code dst} has no room for every element from {@code offset}
     */
    public void toFloats(float[] dst, int offset) {
        requireDecodable();
        requireDestination(dst);
        long n = elementCount();
        Objects.checkFromIndexSize(offset, n, dst.length);
        decode(MemorySegment.ofArray(dst).asSlice((long) offset * Float.BYTES, n * Float.BYTES));
    }

    /**
     * Decodes every element into {@code dst} from index {@code index} on, as {@link #toFloats(float[], int)};
     * the buffer's position and limit stay as they are. Any buffer (heap or direct, either byte order) is taken.
     *
     * @param dst   the buffer
     * @param index where the first element goes
     * @throws StloadException {@link ErrorKind#Unsupported} if the dtype does not decode to floats;
     *         {@link ErrorKind#Usage} if {@code dst} is null
     * @throws IndexOutOfBoundsException if {@code dst} has no room for every element from {@code index} up to its
     *         limit
     * @throws java.nio.ReadOnlyBufferException if {@code dst} is read-only
     */
    public void toFloats(FloatBuffer dst, int index) {
        requireDecodable();
        requireDestination(dst);
        long n = elementCount();
        Objects.checkFromIndexSize(index, n, dst.limit());
        if (dst.isReadOnly()) {
            throw new java.nio.ReadOnlyBufferException();
        }
        if (dst.order() == ByteOrder.LITTLE_ENDIAN && (dst.isDirect() || dst.hasArray())) {
            decode(MemorySegment.ofBuffer(dst.duplicate().clear()).asSlice((long) index * Float.BYTES,
                    n * Float.BYTES));
            return;
        }
        // Another byte order: decoded a stage at a time, the buffer's own put turning each float.
        int width = dtype().byteSize();
        float[] stage = new float[(int) Math.min(n, STAGE)];
        for (long done = 0; done < n; done += stage.length) {
            int k = (int) Math.min(stage.length, n - done);
            decode(data.asSlice(done * width, (long) k * width), MemorySegment.ofArray(stage));
            dst.put(index + (int) done, stage, 0, k);
        }
    }

    /**
     * Copies bytes of the tensor, as stored, into memory of the caller's: how code that must not read a mapping itself
     * (a hash, a native call, an upload) takes a lazy view's bytes.
     *
     * @param offset the first byte of the tensor to copy
     * @param dst    where they go: {@code dst.byteSize()} bytes are copied
     * @throws StloadException {@link ErrorKind#Usage} if {@code dst} is null, read-only, freed or confined to another
     *         thread
     * @throws IndexOutOfBoundsException if the bytes lie outside the tensor
     */
    public void copyTo(long offset, MemorySegment dst) {
        requireDestination(dst);
        if (dst.isReadOnly() || !dst.scope().isAlive() || !dst.isAccessibleBy(Thread.currentThread())) {
            throw StloadException.usage(name() + ": the memory to write it into is "
                    + (dst.isReadOnly() ? "read-only" : !dst.scope().isAlive() ? "freed" : "another thread's"));
        }
        requireAlive();
        guarded(() -> MemorySegment.copy(data, offset, dst, 0, dst.byteSize()));
    }

    private void requireDestination(Object dst) {
        if (dst == null) {
            throw StloadException.usage(name() + ": the memory to write it into is null");
        }
    }

    /** Every element into {@code dst}, as little-endian floats. */
    private void decode(MemorySegment dst) {
        decode(data, dst);
    }

    /**
     * {@code bytes} of this tensor into {@code dst}. A mapping's are read only through copies (the decoders' vector
     * loads and table look-ups straight from a truncated file's mapping crash the JVM; its copy routine does not).
     */
    private void decode(MemorySegment bytes, MemorySegment dst) {
        requireAlive();
        if (mappedFile == null) {
            Convert.toF32(dtype(), bytes, dst);
        } else {
            guarded(() -> Convert.toF32FromMapping(dtype(), bytes, dst));
        }
    }

    /** Runs reads of {@link #data}; for a mapping, under the guard that makes a truncated file's fault an Io error. */
    private void guarded(Runnable reads) {
        if (mappedFile == null) {
            reads.run();
        } else {
            MappedFile.reading(mappedFile, reads::run);
        }
    }

    /** {@code index}, when it names an element of this tensor. */
    private long checked(long index) {
        requireAlive();
        return Objects.checkIndex(index, elements);
    }

    /**
     * A read after the memory's owner closed is the caller's misuse: said so, rather than by the JDK's "Already
     * closed" (which a read racing the close may still meet).
     */
    private void requireAlive() {
        if (!data.scope().isAlive()) {
            throw StloadException.usage(name() + ": its memory was freed: the weights, checkpoint or lease it was read"
                    + " from is closed");
        }
    }

    private void requireDecodable() {
        if (!Convert.decodesToF32(dtype())) {
            throw new StloadException(ErrorKind.Unsupported, null, name() + " is " + info.dtypeName() + ", which does"
                    + " not convert to F32 (F32, BF16, F16, F8_E4M3, F8_E5M2 and the integer types do)");
        }
    }

    private void require(DType... allowed) {
        for (DType d : allowed) {
            if (d == info.dtype()) {
                return;
            }
        }
        throw StloadException.usage(name() + " is " + info.dtypeName() + "; this accessor is for "
                + Arrays.toString(allowed));
    }

    /** Two tensors are equal when they describe the same tensor over the same memory. */
    @Override
    public boolean equals(Object o) {
        return o instanceof Tensor t && info.equals(t.info) && data.equals(t.data);
    }

    @Override
    public int hashCode() {
        return info.hashCode() * 31 + data.hashCode();
    }

    @Override
    public String toString() {
        return "Tensor[" + info + "]";
    }
}
