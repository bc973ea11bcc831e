package io.stload.jlama;

import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.TensorInfo;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.FloatBufferTensor;
import com.github.tjake.jlama.tensor.Q8ByteBufferTensor;
import com.github.tjake.jlama.tensor.SegmentedTensor;
import com.github.tjake.jlama.tensor.TensorShape;
import com.github.tjake.jlama.util.Pair;
import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.UnknownDtypes;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;

/**
 * Jlama's {@link WeightLoader} over stload: what Jlama's own loader ({@code SafeTensorSupport.loadWeights}) gives,
 * tensor for tensor (type, shape, dtype and bytes), from any stload {@link Checkpoint} (a folder, a hub snapshot,
 * a folder in object storage).
 *
 * <ul>
 *   <li>{@link #lazy} (and {@link #open}) reads lazily, as Jlama does: a tensor is a view of its file's mapping,
 *       its pages read as the model touches them; a rank's rows are a view of those rows, its columns a copy of
 *       only their runs.</li>
 *   <li>{@link #load(Checkpoint, LoadOptions)} loads eagerly through stload's engine first, under any strategy
 *       ({@code DIRECT}'s parallel reads in place of page faults on a cold cache), and wraps what it loaded.</li>
 *   <li>{@link #load(Checkpoint, LoadOptions, DistributedContext, ModelType)} loads a Jlama worker's share only:
 *       its model shard's rows and columns of the weights its model cuts, and its layer shard's layers
 *       ({@link JlamaShards}), so the worker reads its own bytes and no others.</li>
 * </ul>
 *
 * <p>Jlama's shard arithmetic is kept: with a {@link DistributedContext} of {@code W} shards, rank {@code r} of a
 * dimension of length {@code L} is {@code [L / W * r, L / W * (r + 1))}. Where Jlama's own loader cuts columns it
 * copies the whole tensor and then the columns, and its copy of F16 and BF16 columns takes half of each row's
 * bytes (it counts elements as bytes), and of I8 columns leaves the block scales zero; here every column cut holds
 * the rank's whole columns and their scales (see {@code docs/jlama.md}).
 *
 * <p>Thread-safety: {@link #load(String, DistributedContext, boolean, boolean)} may be called from several threads
 * at once (Jlama loads a model's layers in parallel). The tensors it returns are read-only and valid until this
 * loader is closed; one used afterwards throws {@link IllegalStateException} where its memory is gone (it never reads
 * freed memory).
 */
public final class StloadWeightLoader implements WeightLoader {
    /** The most bytes one Jlama tensor holds: its buffers are indexed by {@code int}. */
    static final long MAX_TENSOR_BYTES = Integer.MAX_VALUE;

    private final Checkpoint checkpoint;
    private final boolean ownsCheckpoint;
    private final Map<String, TensorInfo> infos;
    private final DType modelDType;
    private final Arena copies;
    private final TensorBytes bytes;
    private final LoadedWeights loaded;
    private final LoadReport report;
    private final long maxTensorBytes;
    private volatile boolean closed;

    private StloadWeightLoader(Checkpoint checkpoint, boolean ownsCheckpoint, Arena copies, TensorBytes bytes,
                               LoadedWeights loaded, long maxTensorBytes) {
        this.checkpoint = checkpoint;
        this.ownsCheckpoint = ownsCheckpoint;
        this.infos = describe(checkpoint);
        this.modelDType = majority(infos);
        this.copies = copies;
        this.bytes = bytes;
        this.loaded = loaded;
        this.report = loaded == null ? null : loaded.report();
        this.maxTensorBytes = maxTensorBytes;
    }

    /**
     * Opens a checkpoint (a folder, a file, or a hub snapshot's folder) and reads it lazily; closing the loader
     * closes the checkpoint. A Jlama model takes it as {@code ModelSupport.loadModel(..., dir ->
     * StloadWeightLoader.open(dir.toPath()))}. Like Jlama's own loader it reads Jlama's quantized checkpoints, whose
     * {@code "Q4"} the safetensors format does not define: the checkpoint is opened {@link UnknownDtypes#AS_RAW}.
     *
     * @param path the checkpoint
     * @return the loader
     * @throws StloadException as {@link Checkpoint#open(Path, UnknownDtypes)}; {@link ErrorKind#Unsupported} for a
     *                         tensor of a dtype Jlama has no name for
     */
    public static StloadWeightLoader open(Path path) {
        Checkpoint ckpt = Checkpoint.open(path, UnknownDtypes.AS_RAW);
        try {
            return lazy(ckpt, true);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    /**
     * Reads a checkpoint lazily: each tensor is a view of its file's mapping (for object storage, its bytes fetched
     * when it is loaded); a rank's rows are a view of those rows, its columns a copy of their runs only. The
     * checkpoint stays the caller's: close it after this loader.
     *
     * @param checkpoint an open checkpoint
     * @return the loader
     * @throws StloadException {@link ErrorKind#Unsupported} for a tensor of a dtype Jlama has no name for;
     *                         {@link ErrorKind#Usage} if {@code checkpoint} is null
     */
    public static StloadWeightLoader lazy(Checkpoint checkpoint) {
        requireCheckpoint(checkpoint);
        return lazy(checkpoint, false);
    }

    private static StloadWeightLoader lazy(Checkpoint checkpoint, boolean owns) {
        return lazy(checkpoint, owns, MAX_TENSOR_BYTES);
    }

    /** A lazy loader whose tensors of more than {@code maxTensorBytes} are segmented; tests make it small. */
    static StloadWeightLoader lazy(Checkpoint checkpoint, boolean owns, long maxTensorBytes) {
        Arena copies = Arena.ofShared();
        return new StloadWeightLoader(checkpoint, owns, copies, new LazyBytes(checkpoint, copies), null,
                maxTensorBytes);
    }

    /**
     * Loads the tensors {@code options} select (with its partitioning, the rank's slices) into memory through
     * stload's engine, under its strategy, then serves Jlama from that memory. A tensor or a cut the load did not
     * take is read lazily ({@link #unplannedBytes()} counts those bytes). The checkpoint stays the caller's: close
     * it after this loader.
     *
     * @param checkpoint an open checkpoint
     * @param options    what to load and how
     * @return the loader, holding the loaded memory until it is closed
     * @throws StloadException as {@link Loader#execute(LoadPlan, LoadListener)}; {@link ErrorKind#Unsupported} for a
     *                         tensor of a dtype Jlama has no name for; {@link ErrorKind#Usage} if {@code checkpoint}
     *                         or {@code options} is null
     */
    public static StloadWeightLoader load(Checkpoint checkpoint, LoadOptions options) {
        requireCheckpoint(checkpoint);
        describe(checkpoint); // refuse what Jlama cannot name before reading anything
        LoadPlan plan = new Planner().plan(checkpoint, options);
        LoadedWeights weights = new Loader().execute(plan, LoadListener.NONE);
        Arena copies = Arena.ofShared();
        try {
            EagerBytes eager = EagerBytes.of(plan, weights, new LazyBytes(checkpoint, copies), copies);
            return new StloadWeightLoader(checkpoint, false, copies, eager, weights, MAX_TENSOR_BYTES);
        } catch (RuntimeException e) {
            copies.close();
            weights.close();
            throw e;
        }
    }

    /**
     * Loads what one Jlama worker holds, and nothing else: {@link JlamaShards#forWorker} turns its context into a
     * rank plan (its rows and columns of the weights its model type cuts, and the layers of its layer shard), run
     * under the strategy and threads of {@code options}.
     *
     * @param checkpoint an open checkpoint
     * @param options    how to read (strategy, threads, thresholds); its partitioning and tensors are the worker's
     * @param dctx       the worker's context, as given to its model's config
     * @param type       the model type
     * @return the loader
     * @throws StloadException as {@link #load(Checkpoint, LoadOptions)}; {@link ErrorKind#Usage} if any argument is
     *                         null
     */
    public static StloadWeightLoader load(Checkpoint checkpoint, LoadOptions options, DistributedContext dctx,
                                          ModelType type) {
        requireCheckpoint(checkpoint);
        return load(checkpoint, JlamaShards.forWorker(options, dctx, type));
    }

    private static void requireCheckpoint(Checkpoint checkpoint) {
        StloadException.requireNonNull(checkpoint, "a Jlama weight loader reads an open checkpoint, not null");
    }

    /** {@return the checkpoint read} */
    public Checkpoint checkpoint() {
        return checkpoint;
    }

    /** {@return the eager load's report, or empty for a lazy loader} */
    public Optional<LoadReport> report() {
        return Optional.ofNullable(report);
    }

    /**
     * Bytes an eager loader read lazily because its load did not hold them as Jlama asked: a tensor its options
     * left out, or a rank's cut that differs from the plan's. Zero for a worker whose model asked only for its
     * share; always zero for a lazy loader.
     *
     * @return the bytes
     */
    public long unplannedBytes() {
        return bytes instanceof EagerBytes e ? e.unplannedBytes() : 0;
    }

    /**
     * {@inheritDoc}
     *
     * @return the index's {@code metadata} (as Jlama reads it, scalars as their JSON text); empty without an index
     */
    @Override
    public Map<String, String> metadata() {
        return checkpoint.indexMetadata();
    }

    /**
     * {@inheritDoc}
     *
     * @return every tensor in Jlama's terms (offsets relative to its file's data), in checkpoint order, unmodifiable
     */
    @Override
    public Map<String, TensorInfo> tensorInfoMap() {
        return infos;
    }

    /**
     * {@inheritDoc}
     *
     * @return the dtype most tensors have, quantization scales ({@code .qb}) not counted; F32 where it is F16, as
     *         Jlama has it (it widens F16 tensors of such a model to F32)
     */
    @Override
    public DType getModelDType() {
        return modelDType;
    }

    /**
     * Loads a tensor as Jlama's own loader does. With a context, the tensor must be 2-D; {@code sparseRows} takes
     * the rank's rows (a tensor of the full shape holding only them, as {@link TensorShape#sparseRow}), else
     * {@code sparseColumns}, when there is more than one model shard, the rank's columns
     * ({@link TensorShape#sparseColumn}). A quantized tensor's scales are cut with it.
     *
     * @param name          the tensor's name
     * @param dctx          the worker's context, or null for the whole tensor
     * @param sparseRows    take the rank's rows
     * @param sparseColumns take the rank's columns
     * @return the tensor, read-only, valid until this loader is closed
     * @throws NoSuchElementException when there is no such tensor (its cause the {@link ErrorKind#TensorNotFound})
     * @throws StloadException {@link ErrorKind#Unsupported} for a scalar, a tensor of more or fewer than 2 dimensions
     *                         with a context, or a dtype Jlama has no tensor type for; {@link ErrorKind#Io} when the
     *                         bytes cannot be read; {@link ErrorKind#Usage} after {@link #close()}, or if
     *                         {@code name} is null
     */
    @Override
    public AbstractTensor load(String name, DistributedContext dctx, boolean sparseRows, boolean sparseColumns) {
        StloadException.requireNonNull(name, "a tensor is loaded by its name, not null");
        if (closed) {
            throw StloadException.usage("the weight loader is closed");
        }
        TensorRef ref = find(name);
        TensorInfo info = infos.get(name);
        int[] shape = info.shape.clone();
        if (shape.length < 1) {
            throw unsupported(ref, "Jlama has no scalar tensors");
        }
        if (dctx != null && shape.length != 2) {
            throw unsupported(ref, "a rank's cut of a tensor of " + shape.length + " dimensions (Jlama cuts 2)");
        }
        DType dtype = info.dType;
        if (dctx != null && sparseRows) {
            int first = dctx.getShardOffsetForLength(shape[0]);
            int count = dctx.getShardLength(shape[0]);
            TensorShape cut = TensorShape.sparseRow(shape, Pair.of(first, count));
            FloatBufferTensor scales = JlamaTensors.quantized(dtype)
                    ? scales(ref, load(name + ".qb", dctx, true, false)) : null;
            return make(ref, dtype, cut, bytes.rows(ref, rowBytes(dtype, shape), first, count), scales);
        }
        if (dctx != null && sparseColumns && dctx.hasModelShard()) {
            int first = dctx.getShardOffsetForLength(shape[1]);
            int count = dctx.getShardLength(shape[1]);
            if (count != shape[1]) {
                int block = Q8ByteBufferTensor.BLOCK_SIZE;
                if (JlamaTensors.quantized(dtype) && (first % block != 0 || count % block != 0)) {
                    // A block's 32 values share one scale: a cut inside a block has no scales of its own (Jlama's
                    // own loader gives it zeros), and Q4 at an odd column splits a byte.
                    throw unsupported(ref, "a rank's columns [" + first + ", " + (first + count) + ") of a " + dtype
                            + " tensor are not whole blocks of " + block + " (one scale each)");
                }
                TensorShape cut = TensorShape.sparseColumn(shape, Pair.of(first, count));
                FloatBufferTensor scales = JlamaTensors.quantized(dtype) ? columnScales(name, cut) : null;
                return make(ref, dtype, cut, bytes.columns(ref, rowBytes(dtype, shape), columnBytes(dtype, first),
                        columnBytes(dtype, count)), scales);
            }
        }
        if (ref.info().byteSize() > maxTensorBytes && shape.length == 2 && !JlamaTensors.quantized(dtype)) {
            return segmented(ref, dtype, shape);
        }
        FloatBufferTensor scales = JlamaTensors.quantized(dtype) ? scales(ref, load(name + ".qb", dctx, false, false))
                : null;
        return make(ref, dtype, TensorShape.of(shape), bytes.whole(ref), scales);
    }

    /**
     * The scales of a column cut: the block scales of the rank's columns, as the shape Jlama gives a quantized
     * tensor's scales ({@code scaleLastDim(1 / 32)}).
     */
    private FloatBufferTensor columnScales(String name, TensorShape cut) {
        TensorRef ref = find(name + ".qb");
        TensorShape shape = cut.scaleLastDim(Q8ByteBufferTensor.I_BLOCK_SIZE);
        DType dtype = infos.get(ref.name()).dType;
        if (dtype != DType.F32 || ref.info().rank() != 2) {
            throw unsupported(ref, "block scales are F32 and 2-D in Jlama, not " + dtype + ref.info().shapeString());
        }
        long rowBytes = ref.info().dim(1) * Float.BYTES;
        MemorySegment data = bytes.columns(ref, rowBytes, (long) shape.sparseColumnOffset() * Float.BYTES,
                (long) shape.sparseColumnLength() * Float.BYTES);
        return (FloatBufferTensor) make(ref, DType.F32, shape, data, null);
    }

    private FloatBufferTensor scales(TensorRef of, AbstractTensor qb) {
        if (qb instanceof FloatBufferTensor f) {
            return f;
        }
        throw unsupported(of, "its block scales " + of.name() + ".qb are " + qb.dType() + "; Jlama's are F32");
    }

    /**
     * A tensor of more bytes than one Jlama buffer holds, as Jlama's own loader gives it: blocks of whole rows of
     * at most {@link #MAX_TENSOR_BYTES} each, wrapped in a {@link SegmentedTensor}.
     */
    private AbstractTensor segmented(TensorRef ref, DType dtype, int[] shape) {
        long rowBytes = rowBytes(dtype, shape);
        long rowsPerPart = (maxTensorBytes - maxTensorBytes % rowBytes) / rowBytes;
        List<AbstractTensor> parts = new ArrayList<>();
        for (long first = 0; first < shape[0]; first += rowsPerPart) {
            int rows = (int) Math.min(rowsPerPart, shape[0] - first);
            parts.add(make(ref, dtype, TensorShape.of(rows, shape[1]), bytes.rows(ref, rowBytes, first, rows), null));
        }
        return SegmentedTensor.wrap(parts);
    }

    private AbstractTensor make(TensorRef ref, DType dtype, TensorShape shape, MemorySegment data,
                                FloatBufferTensor scales) {
        if (data.byteSize() > MAX_TENSOR_BYTES) {
            throw unsupported(ref, "a cut of " + data.byteSize() + " bytes; a Jlama tensor holds at most "
                    + MAX_TENSOR_BYTES);
        }
        return JlamaTensors.make(ref.file().file(), ref.name(), dtype, modelDType, shape, data, scales, copies);
    }

    /** Bytes per row of a 2-D tensor as Jlama counts them: Q4 holds two elements per byte. */
    private static long rowBytes(DType dtype, int[] shape) {
        return columnBytes(dtype, shape[shape.length - 1]);
    }

    private static long columnBytes(DType dtype, long columns) {
        return dtype == DType.Q4 ? columns * dtype.size() / 2 : columns * dtype.size();
    }

    private TensorRef find(String name) {
        try {
            return checkpoint.tensor(name);
        } catch (StloadException e) {
            NoSuchElementException missing = new NoSuchElementException(name + " not found in weights");
            missing.initCause(e);
            throw missing;
        }
    }

    private static StloadException unsupported(TensorRef t, String what) {
        return new StloadException(ErrorKind.Unsupported, t.file().file(), t.name() + ": " + what);
    }

    /**
     * Frees what the loader holds (an eager load's memory, copies) and closes a checkpoint it opened; the tensors it
     * gave out are not to be used after (one whose memory is gone throws {@link IllegalStateException}). Further calls
     * do nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (loaded != null) {
                loaded.close();
            }
            copies.close();
        } finally {
            if (ownsCheckpoint) {
                checkpoint.close();
            }
        }
    }

    /** Every tensor in Jlama's terms; one of a dtype Jlama has no name for is refused, as Jlama's reader refuses it. */
    private static Map<String, TensorInfo> describe(Checkpoint checkpoint) {
        Map<String, TensorInfo> out = new LinkedHashMap<>();
        for (TensorRef t : checkpoint.tensors().values()) {
            io.stload.format.TensorInfo i = t.info();
            DType dtype = JlamaDTypes.of(i);
            if (dtype == null) {
                throw unsupported(t, "Jlama has no dtype " + i.dtype() + " (it names BOOL, U8, I8, I16, U16, F16, BF16, "
                        + "I32, U32, F32, F64, I64, U64, Q4 and Q5)");
            }
            long[] shape = new long[i.rank()];
            for (int d = 0; d < shape.length; d++) {
                if (i.dim(d) > Integer.MAX_VALUE) {
                    throw unsupported(t, "dimension " + d + " is " + Long.toUnsignedString(i.dim(d))
                            + "; Jlama's are int");
                }
                shape[d] = i.dim(d);
            }
            out.put(t.name(), new TensorInfo(dtype, shape, new long[] {i.begin(), i.end()}));
        }
        return Collections.unmodifiableMap(out);
    }

    /** Jlama's model dtype: the most common dtype, block scales not counted, ties to the first declared; F16 as F32. */
    private static DType majority(Map<String, TensorInfo> infos) {
        EnumMap<DType, Integer> counts = new EnumMap<>(DType.class);
        for (Map.Entry<String, TensorInfo> e : infos.entrySet()) {
            if (!e.getKey().endsWith(".qb")) {
                counts.merge(e.getValue().dType, 1, Integer::sum);
            }
        }
        int max = 0;
        DType most = null;
        for (Map.Entry<DType, Integer> e : counts.entrySet()) {
            if (e.getValue() > max) {
                max = e.getValue();
                most = e.getKey();
            }
        }
        return most == DType.F16 ? DType.F32 : most;
    }
}
