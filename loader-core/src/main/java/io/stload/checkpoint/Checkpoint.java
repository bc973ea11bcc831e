package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.TensorLookup;
import io.stload.format.Header;
import io.stload.format.Slice;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.format.UnknownDtypes;
import io.stload.nativeio.FileChecks;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which files make up a checkpoint, each with its validated header: a single {@code .safetensors} file, a
 * directory with a {@code *.safetensors.index.json} (every shard it names must exist and hold what it says),
 * or a directory of {@code .safetensors} files without an index, or a hub-cache snapshot of one of those
 * (see {@link CheckpointSource}). Symlinks must resolve inside the directory (or, for a snapshot, the repo's
 * {@code blobs/}), and headers are read from the file the link resolves to. Opening reads headers only, and
 * no file is ever created, changed or deleted.
 *
 * <p>It is also the lazy way in, Python's {@code safe_open}: {@link #info} describes a tensor, {@link #view}
 * maps its file on first use and gives a zero-copy view, {@link #copy} and {@link #slice} read only the bytes
 * asked for (from object storage: the tensor's bytes); loading goes through {@code Loader}. Closing unmaps the views;
 * a checkpoint that was never viewed holds nothing that needs closing.
 *
 * <p>Thread-safety: a checkpoint is immutable once open, and every method may be called from any thread; views
 * are in a shared arena, so any thread may read them until {@link #close()}.
 *
 * <pre>{@code
 * try (Checkpoint ckpt = Checkpoint.open(Path.of("/models/llama"))) {
 *     MemorySegment norm = ckpt.view("model.norm.weight");
 *     float[] rows = Convert.toF32(ckpt.slice("model.embed_tokens.weight", "0:4,:"));
 * }
 * }</pre>
 *
 * <p>A shard may hold tensors its index maps elsewhere or not at all (some published checkpoints do; the index
 * is the allowlist): they are left out of {@link #tensors()} and listed by {@link #unindexedTensors()}.
 *
 * <p>A null argument is a {@link ErrorKind#Usage} error, except where a parameter says null is allowed.
 */
public final class Checkpoint implements TensorLookup<TensorRef>, AutoCloseable {
    private final Path path;
    private final Path index;
    private final List<Header> files;
    private final Map<String, TensorRef> tensors;
    private final Map<Header, String> names;
    private final HubSnapshot snapshot;
    private final Map<String, String> indexMetadata;
    private final Map<String, List<String>> unindexed;
    private final RemoteFolder remote;
    private final LazyReads reads;

    private Checkpoint(CheckpointFiles.Found found, HubSnapshot snapshot, RemoteFolder remote) {
        this.path = found.path();
        this.index = found.index();
        this.files = List.copyOf(found.headers());
        this.tensors = Collections.unmodifiableMap(found.tensors(CheckpointFiles.Problems.FIRST));
        this.names = found.names();
        this.snapshot = snapshot;
        this.indexMetadata = Collections.unmodifiableMap(found.indexMetadata());
        this.unindexed = Collections.unmodifiableMap(found.unindexed());
        this.remote = remote;
        this.reads = new LazyReads(remote, names);
    }

    /**
     * Opens a file, or a checkpoint directory; a directory that is a hub snapshot may also link into its blobs.
     * Only headers (and the index) are read.
     *
     * @param path a {@code .safetensors} file or a checkpoint directory
     * @return the open checkpoint; close it once its views are no longer used
     * @throws StloadException {@link ErrorKind#Io} for a missing or unreadable path; {@link ErrorKind#MissingShard},
     *         {@link ErrorKind#InvalidIndex}, {@link ErrorKind#UnsafePath} or a header kind for an inconsistent
     *         checkpoint
     */
    public static Checkpoint open(Path path) {
        return open(path, UnknownDtypes.REFUSE);
    }

    /**
     * Opens a file or a checkpoint directory as {@link #open(Path)} does, letting tensors of a dtype the format does
     * not define (an engine's own, such as Jlama's {@code "Q4"}) through as raw bytes if asked to: such a tensor's
     * {@link TensorInfo#dtype()} is {@link io.stload.format.DType#UNKNOWN}, {@link TensorInfo#dtypeName()} its
     * spelling, and it is read, loaded and streamed whole ({@link UnknownDtypes#AS_RAW}).
     *
     * @param path    a {@code .safetensors} file or a checkpoint directory
     * @param unknown {@link UnknownDtypes#REFUSE} (what {@link #open(Path)} does, as the reference implementation) or
     *                {@link UnknownDtypes#AS_RAW}
     * @return the open checkpoint; close it once its views are no longer used
     * @throws StloadException as {@link #open(Path)}
     */
    public static Checkpoint open(Path path, UnknownDtypes unknown) {
        if (path == null || unknown == null) {
            throw StloadException.usage("a checkpoint is opened from a path, not null");
        }
        path = FileChecks.kernelPath(path); // its files are found by name from it, which a textual `..` would move
        // Missing, a symlink loop, permission denied, or a FIFO or device: one line each, and nothing opened.
        if (!FileChecks.requireFileOrDirectory(path).isDirectory()) {
            return new Checkpoint(CheckpointFiles.single(path, unknown), null, null);
        }
        return new Checkpoint(CheckpointFiles.directory(path, containedFiles(path), "", CheckpointFiles.Problems.FIRST,
                unknown), null, null);
    }

    /** A hub snapshot, whose files must all lie where huggingface_hub puts them ({@link HubSnapshot#fileRoots()}). */
    static Checkpoint open(HubSnapshot snapshot) {
        return open(snapshot, UnknownDtypes.REFUSE);
    }

    /** A hub snapshot, tensors of unknown dtype let through as asked. */
    static Checkpoint open(HubSnapshot snapshot, UnknownDtypes unknown) {
        return new Checkpoint(CheckpointFiles.directory(snapshot.dir(), new ContainedFiles(snapshot.fileRoots()),
                fetchHint(snapshot), CheckpointFiles.Problems.FIRST, unknown), snapshot, null);
    }

    /** How to fetch a hub snapshot's missing file, for its error. */
    static String fetchHint(HubSnapshot snapshot) {
        return "; fetch it with `" + snapshot.fetchCommand() + "`";
    }

    /**
     * Where a directory's files may really live: in it, and for a directory that is a hub snapshot
     * ({@code .../models--org--name/snapshots/<commit>}), where huggingface_hub puts a snapshot's files.
     */
    static ContainedFiles containedFiles(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        Path snapshots = abs.getParent();
        Path repoDir = snapshots == null ? null : snapshots.getParent();
        List<Path> roots = new ArrayList<>(List.of(dir)); // a folder the user names holds its own files
        if (repoDir != null && snapshots.getFileName().toString().equals("snapshots")
                && repoDir.getFileName().toString().startsWith("models--")) {
            roots.addAll(HubSnapshot.fileRoots(repoDir, dir));
        }
        return new ContainedFiles(roots);
    }

    /**
     * A checkpoint in a remote folder: its index if it has one (every shard it names must exist before any
     * header is read), else every {@code .safetensors} file in it; or, with {@code single} given, that one file.
     * Headers are read by positional reads of each file's first bytes.
     *
     * @param folder the remote folder
     * @param single the name of the one file to open, or null for the whole folder
     * @return the open checkpoint
     * @throws StloadException {@link ErrorKind#Io} when the folder cannot be read; {@link ErrorKind#MissingShard},
     *                         {@link ErrorKind#InvalidIndex}, {@link ErrorKind#UnsafePath} or a header kind for an
     *                         inconsistent checkpoint
     */
    public static Checkpoint open(RemoteFolder folder, String single) {
        return open(folder, single, UnknownDtypes.REFUSE);
    }

    /**
     * A checkpoint in a remote folder ({@link #open(RemoteFolder, String)}), letting tensors of a dtype the format does
     * not define through as raw bytes if asked to ({@link #open(Path, UnknownDtypes)}).
     *
     * @param folder  the remote folder
     * @param single  the name of the one file to open, or null for the whole folder
     * @param unknown {@link UnknownDtypes#REFUSE} or {@link UnknownDtypes#AS_RAW}
     * @return the open checkpoint
     * @throws StloadException as {@link #open(RemoteFolder, String)}
     */
    public static Checkpoint open(RemoteFolder folder, String single, UnknownDtypes unknown) {
        if (folder == null || unknown == null) {
            throw StloadException.usage("a remote checkpoint is opened from a folder, not null");
        }
        return new Checkpoint(CheckpointFiles.remote(folder, single, unknown), null, folder);
    }

    /**
     * Where the file is, as the user names it: its path, or for a file in object storage its URL
     * ({@code s3://bucket/key}), which a {@link Path} would print as {@code s3:/bucket/key}.
     *
     * @param file one of {@link #files()}
     * @return its location in words
     */
    public String location(Header file) {
        requireFile(file);
        return remote == null ? file.file().toString() : remote.location() + names.get(file);
    }

    /** {@return the folder this checkpoint's files are read from, or null for local files} */
    public RemoteFolder remote() {
        return remote;
    }

    /** {@return the hub snapshot this checkpoint was resolved to, or null for a plain path} */
    public HubSnapshot snapshot() {
        return snapshot;
    }

    /** {@return the commit of a hub snapshot, or null for a plain path} */
    public String commit() {
        return snapshot == null ? null : snapshot.commit();
    }

    /**
     * Names a file as the checkpoint does.
     *
     * @param file one of {@link #files()}
     * @return its name relative to the checkpoint's directory, or the path given for a single file
     * @throws StloadException {@link ErrorKind#Usage} if {@code file} is null or not one of {@link #files()}
     */
    public String nameOf(Header file) {
        requireFile(file);
        String name = names.get(file);
        if (name == null) {
            throw StloadException.usage(file.file() + " is not a file of the checkpoint at " + path);
        }
        return name;
    }

    private static void requireFile(Header file) {
        StloadException.requireNonNull(file, "a file of the checkpoint is one of its headers, not null");
    }

    /**
     * A file beside the checkpoint's weights (its {@code config.json}, say), checked as its own files are: in a
     * checkpoint folder, a link may not lead out of it (or, for a hub snapshot, out of its repo's blobs); beside a
     * single file, which is itself read wherever it links to, it may.
     *
     * @param name a file name in the checkpoint's folder
     * @return the real file behind the name, or empty where there is none (a dangling link included)
     * @throws StloadException {@link ErrorKind#UnsafePath} where a link leaves the checkpoint's folder;
     *                         {@link ErrorKind#Io} where the name is no regular file (a folder, a FIFO) or cannot be
     *                         resolved; {@link ErrorKind#Usage} for a name that is not a plain file name, or a
     *                         checkpoint in object storage (whose {@link #remote()} reads such files)
     */
    public Optional<Path> fileBeside(String name) {
        StloadException.requireNonNull(name, "a file beside the weights is named, not null");
        boolean folder = Files.isDirectory(path);
        Path dir = folder ? path : path.toAbsolutePath().getParent();
        Path named;
        try {
            named = dir.resolve(name);
        } catch (InvalidPathException e) {
            named = null;
        }
        if (remote != null || named == null || name.isEmpty() || name.contains("/") || name.equals("..")
                || name.equals(".")) {
            throw StloadException.usage("`" + name + "` is no file name beside the weights of " + path);
        }
        if (!Files.exists(named)) {
            return Optional.empty();
        }
        FileChecks.requireRegularFile(named); // a folder or a FIFO, named as the caller knows it
        if (!folder) {
            return Optional.of(named);
        }
        return Optional.of((snapshot != null ? new ContainedFiles(snapshot.fileRoots()) : containedFiles(dir))
                .realFile(named, ""));
    }

    /** {@return the path the checkpoint was opened from} */
    public Path path() {
        return path;
    }

    /** {@return the index file, or null for a single file or an unindexed directory} */
    public Path index() {
        return index;
    }

    /** {@return its files' headers, in name order, unmodifiable} */
    public List<Header> files() {
        return files;
    }

    /** {@return every tensor by name, in file order and within a file in data order, unmodifiable} */
    @Override
    public Map<String, TensorRef> tensors() {
        return tensors;
    }

    /**
     * Returns the named tensor and its file.
     *
     * @param name the tensor's name
     * @return the tensor
     * @throws StloadException {@link ErrorKind#TensorNotFound}, naming the checkpoint, when it has no such tensor;
     *                         {@link ErrorKind#Usage} if {@code name} is null
     */
    @Override
    public TensorRef tensor(String name) {
        return find(name).orElseThrow(() -> new StloadException(ErrorKind.TensorNotFound, path, "no tensor named `"
                + name + "` among its " + tensors.size() + " (list them with `stload inspect`)"));
    }

    /**
     * Describes a tensor: dtype, shape and offsets ({@link #tensor} has its file and the file's metadata).
     *
     * @param name the tensor's name
     * @return its description
     * @throws StloadException {@link ErrorKind#TensorNotFound} when the checkpoint has no such tensor
     */
    public TensorInfo info(String name) {
        return tensor(name).info();
    }

    /**
     * {@return the index's {@code metadata} (e.g. {@code total_size}), scalars as their JSON text; empty without an
     * index}
     */
    public Map<String, String> indexMetadata() {
        return indexMetadata;
    }

    /**
     * Tensors a shard holds that its index does not map to it, by shard as the checkpoint names it: not part of
     * the checkpoint, never loaded. Empty for a consistent checkpoint.
     *
     * @return tensor names by shard name
     */
    public Map<String, List<String>> unindexedTensors() {
        return unindexed;
    }

    /**
     * A zero-copy, read-only view of the tensor's bytes in its file's mapping (made on the file's first view),
     * valid until this checkpoint is closed; pages are read from disk as they are touched. A view is the file's
     * memory: should the file be truncated under it (a download replacing it in place), Java's own reads of a lost
     * page throw {@link InternalError} (the JVM's SIGBUS), but native code or a JDK intrinsic handed its address
     * (a CRC-32 of {@code view.asByteBuffer()}, say) crashes the JVM. Give such code {@link #copy} or {@link #slice}
     * instead, which read through the loader's guarded copy and turn a truncation into an Io error naming the
     * file. A file in object storage cannot be mapped: its view is the tensor's bytes, fetched by ranged GETs into
     * memory the garbage collector frees.
     *
     * @param name the tensor's name
     * @return the read-only view, owned by this checkpoint
     * @throws StloadException {@link ErrorKind#TensorNotFound} when there is no such tensor; {@link ErrorKind#Io}
     *                         when the file cannot be mapped or fetched, or is no longer the file its header was read
     *                         from; {@link ErrorKind#Usage} if the checkpoint is closed
     */
    public MemorySegment view(String name) {
        return reads.view(tensor(name));
    }

    /**
     * Describes and views a tensor ({@link #view}), for typed access such as {@link Tensor#getFloat(long)},
     * {@link Tensor#row} and {@link Tensor#toFloats(float[], int)}: should the file be truncated under the view,
     * those reads throw {@link ErrorKind#Io} naming the file (the raw {@link Tensor#data()} stays unguarded).
     *
     * @param name the tensor's name
     * @return the tensor over its view, valid until this checkpoint is closed
     * @throws StloadException as {@link #view} does
     */
    public Tensor viewTensor(String name) {
        return reads.viewTensor(tensor(name));
    }

    /**
     * Copies a tensor's bytes into memory the caller owns.
     *
     * @param name      the tensor's name
     * @param allocator where the copy is allocated, e.g. an arena the caller closes
     * @return the tensor over the copy
     * @throws StloadException {@link ErrorKind#TensorNotFound}, or {@link ErrorKind#Io} if the file cannot be read;
     *                         {@link ErrorKind#Usage} if the allocator cannot allocate on this thread or returns null,
     *                         too few or read-only bytes; {@link ErrorKind#Callback} if it fails otherwise
     */
    public Tensor copy(String name, SegmentAllocator allocator) {
        return slice(name, "", allocator);
    }

    /**
     * Copies a tensor's bytes into memory the garbage collector frees.
     *
     * @param name the tensor's name
     * @return the tensor over the copy
     * @throws StloadException {@link ErrorKind#TensorNotFound}, or {@link ErrorKind#Io} if the file cannot be read
     */
    public Tensor copy(String name) {
        return copy(name, Arena.ofAuto());
    }

    /**
     * A copy of part of the tensor, e.g. {@code "0:4,:"} or {@code "..., ::2"}: the string form of a {@link Slice}
     * ({@link #slice(String, Slice, SegmentAllocator)}).
     *
     * @param name      the tensor's name
     * @param ranges    the slice, e.g. {@code "0:4,:"}
     * @param allocator where the copy is allocated, e.g. an arena the caller closes
     * @return the slice as a tensor of its own shape
     * @throws StloadException InvalidSlice for a slice that does not parse or lies outside the tensor; TensorNotFound;
     *                         Io if the file cannot be read
     */
    public Tensor slice(String name, String ranges, SegmentAllocator allocator) {
        requireAllocator(allocator);
        TensorRef t = tensor(name);
        return reads.copy(t, SliceSpec.parse(ranges, t.info()), allocator);
    }

    /**
     * Copies part of a tensor ({@link #slice(String, String, SegmentAllocator)}) into memory the garbage collector
     * frees.
     *
     * @param name   the tensor's name
     * @param ranges the slice, e.g. {@code "0:4,:"}
     * @return the slice as a tensor of its own shape
     * @throws StloadException InvalidSlice, TensorNotFound or Io as the three-argument form
     */
    public Tensor slice(String name, String ranges) {
        return slice(name, ranges, Arena.ofAuto());
    }

    /**
     * A copy of part of the tensor, in row-major order, as Python's {@code get_slice(name)[...]} gives it: only the
     * bytes of the slice are read from the file (for a stepped slice, only the runs it takes; from object storage,
     * runs close together are fetched by one request).
     *
     * <pre>{@code
     * Tensor rows = ckpt.slice("model.embed_tokens.weight", Slice.of(Slice.range(64, 128)), arena);
     * }</pre>
     *
     * @param name      the tensor's name
     * @param slice     which part ({@link Slice})
     * @param allocator where the copy is allocated, e.g. an arena the caller closes
     * @return the slice as a tensor of its own shape
     * @throws StloadException {@link ErrorKind#InvalidSlice} for a slice outside the tensor;
     *                         {@link ErrorKind#Unsupported} for a cut of a sub-byte or unknown dtype;
     *                         {@link ErrorKind#TensorNotFound}; {@link ErrorKind#Io} if the file cannot be read
     */
    public Tensor slice(String name, Slice slice, SegmentAllocator allocator) {
        StloadException.requireNonNull(slice, "a slice of a tensor is a Slice, Slice.WHOLE for all of it, not null");
        requireAllocator(allocator);
        TensorRef t = tensor(name);
        return reads.copy(t, slice.on(t.info()), allocator);
    }

    /**
     * Copies part of a tensor ({@link #slice(String, Slice, SegmentAllocator)}) into memory the garbage collector
     * frees.
     *
     * @param name  the tensor's name
     * @param slice which part ({@link Slice})
     * @return the slice as a tensor of its own shape
     * @throws StloadException as the three-argument form
     */
    public Tensor slice(String name, Slice slice) {
        return slice(name, slice, Arena.ofAuto());
    }

    /** A null allocator is refused before the slice is resolved, so that the error names what is wrong. */
    private static void requireAllocator(SegmentAllocator allocator) {
        StloadException.requireNonNull(allocator, "a copy needs an allocator, not null");
    }

    /**
     * Unmaps the files behind every {@link #view}; using such a view afterwards throws. A JDK call still running on a
     * view's buffer ({@code asByteBuffer()} handed to a channel or a CRC) is waited for; further calls do nothing.
     *
     * @throws StloadException {@link ErrorKind#Usage} if such a call holds a view 10 s on, or the wait is
     *                         interrupted: the files stay mapped, and closing again retries
     */
    @Override
    public void close() {
        reads.close();
    }

    /** {@return whether the checkpoint is still open: a closed one is neither read nor planned} */
    public boolean isOpen() {
        return !reads.isClosed();
    }

    /** {@return the bytes of tensor data over all files} */
    public long totalBytes() {
        long sum = 0;
        for (Header h : files) {
            sum += h.dataBytes();
        }
        return sum;
    }
}
