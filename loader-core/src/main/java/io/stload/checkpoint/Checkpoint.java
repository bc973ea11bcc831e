package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.RangeSource;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.stream.Stream;

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
 */
public final class Checkpoint implements AutoCloseable {
    private static final String INDEX_SUFFIX = ".safetensors.index.json";
    private static final String DEFAULT_INDEX = "model" + INDEX_SUFFIX;

    private final Path path;
    private final Path index;
    private final List<Header> files;
    private final Map<String, TensorRef> tensors;
    private final Map<Header, String> names;
    private final HubSnapshot snapshot;
    private final Map<String, String> indexMetadata;
    private final Map<String, List<String>> unindexed;
    private final RemoteFolder remote;
    private final FileMappings mappings = new FileMappings();

    private Checkpoint(Path path, Path index, List<Header> files, Map<String, TensorRef> tensors,
                       Map<Header, String> names, HubSnapshot snapshot, Map<String, String> indexMetadata,
                       Map<String, List<String>> unindexed, RemoteFolder remote) {
        this.path = path;
        this.index = index;
        this.files = List.copyOf(files);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.names = names;
        this.snapshot = snapshot;
        this.indexMetadata = Collections.unmodifiableMap(indexMetadata);
        this.unindexed = Collections.unmodifiableMap(unindexed);
        this.remote = remote;
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
        // Missing, a symlink loop, permission denied, or a FIFO or device: one line each, and nothing opened.
        if (!FileChecks.requireFileOrDirectory(path).isDirectory()) {
            Header h = HeaderParser.read(path);
            return fromFiles(path, null, List.of(h), Map.of(h, path.toString()), null, t -> true, Map.of(), Map.of(),
                    null);
        }
        List<Path> roots = new ArrayList<>(List.of(path));
        blobsOfSnapshotDirectory(path).ifPresent(roots::add);
        return fromDirectory(path, new ContainedFiles(roots), null);
    }

    /** A hub snapshot, whose files must all link into the repo's blobs. */
    static Checkpoint open(HubSnapshot snapshot) {
        return fromDirectory(snapshot.dir(), new ContainedFiles(List.of(snapshot.blobs())), snapshot);
    }

    private static Checkpoint fromDirectory(Path dir, ContainedFiles contained, HubSnapshot snapshot) {
        String hint = snapshot == null ? "" : "; fetch it with `" + snapshot.fetchCommand() + "`";
        Path index = findIndex(dir);
        return index != null ? fromIndex(dir, index, contained, snapshot, hint)
                : fromUnindexed(dir, contained, snapshot, hint);
    }

    /** {@code .../models--org--name/snapshots/<commit>} links into {@code .../models--org--name/blobs}. */
    private static Optional<Path> blobsOfSnapshotDirectory(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        Path snapshots = abs.getParent();
        Path repoDir = snapshots == null ? null : snapshots.getParent();
        if (repoDir == null || !snapshots.getFileName().toString().equals("snapshots")
                || !repoDir.getFileName().toString().startsWith("models--")) {
            return Optional.empty();
        }
        return Optional.of(HubSnapshot.blobsInside(repoDir));
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
        try {
            if (single != null) {
                Header h = remoteHeader(folder, single);
                return fromFiles(folder.pathOf(single), null, List.of(h), Map.of(h, single), null, t -> true,
                        Map.of(), Map.of(), folder);
            }
            List<String> indexes = folder.list(INDEX_SUFFIX);
            String index = indexes.contains(DEFAULT_INDEX) ? DEFAULT_INDEX : indexes.size() == 1 ? indexes.get(0) : null;
            if (indexes.size() > 1 && index == null) {
                throw new StloadException(ErrorKind.InvalidIndex, null, folder.location() + ": several index files and"
                        + " none is " + DEFAULT_INDEX + ": " + indexes);
            }
            return index != null ? fromRemoteIndex(folder, index) : fromRemoteFiles(folder);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, folder.location() + ": " + e.getMessage(), e);
        }
    }

    private static Checkpoint fromRemoteIndex(RemoteFolder folder, String indexName) throws IOException {
        Path indexFile = folder.pathOf(indexName);
        ShardIndex index = ShardIndex.parse(folder.readAll(indexName, ShardIndex.MAX_INDEX_BYTES), indexFile);
        Map<String, List<String>> tensorsByShard = tensorsByShard(index);
        for (Map.Entry<String, List<String>> e : tensorsByShard.entrySet()) {
            if (!isPlainName(e.getKey())) {
                throw new StloadException(ErrorKind.UnsafePath, indexFile, "shard name `" + e.getKey()
                        + "` escapes the checkpoint folder; refusing to open it");
            }
            if (!folder.exists(e.getKey())) {
                throw new StloadException(ErrorKind.MissingShard, folder.pathOf(e.getKey()), "shard named by "
                        + indexName + " is missing; needed by " + needers(e.getValue()));
            }
        }
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        Map<String, List<String>> unindexed = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : tensorsByShard.entrySet()) {
            Header h = remoteHeader(folder, e.getKey());
            checkAgainstIndex(h, e.getKey(), e.getValue(), index, unindexed);
            names.put(h, e.getKey());
            headers.add(h);
        }
        return fromFiles(folder.pathOf(""), indexFile, headers, names, null, indexed(index, names), index.metadata(),
                unindexed, folder);
    }

    private static Checkpoint fromRemoteFiles(RemoteFolder folder) throws IOException {
        List<String> shards = folder.list(".safetensors");
        if (shards.isEmpty()) {
            throw new StloadException(ErrorKind.MissingShard, null, folder.location()
                    + ": folder holds no .safetensors file and no index");
        }
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        for (String name : shards) {
            Header h = remoteHeader(folder, name);
            headers.add(h);
            names.put(h, name);
        }
        return fromFiles(folder.pathOf(""), null, headers, names, null, t -> true, Map.of(), Map.of(), folder);
    }

    private static Header remoteHeader(RemoteFolder folder, String name) throws IOException {
        try (RangeSource source = folder.open(name)) {
            return HeaderParser.read(source, folder.pathOf(name));
        }
    }

    /** A shard name inside the folder: no parent steps, no absolute or backslashed names. */
    private static boolean isPlainName(String name) {
        if (name.isEmpty() || name.startsWith("/") || name.contains("\\")) {
            return false;
        }
        for (String part : name.split("/")) {
            if (part.equals("..") || part.equals(".") || part.isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Where the file is, as the user names it: its path, or for a file in object storage its URL
     * ({@code s3://bucket/key}), which a {@link Path} would print as {@code s3:/bucket/key}.
     *
     * @param file one of {@link #files()}
     * @return its location in words
     */
    public String location(Header file) {
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
     */
    public String nameOf(Header file) {
        return names.get(file);
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
    public Map<String, TensorRef> tensors() {
        return tensors;
    }

    /**
     * Returns the named tensor and its file.
     *
     * @param name the tensor's name
     * @return the tensor
     * @throws StloadException TensorNotFound when the checkpoint has no such tensor
     */
    public TensorRef tensor(String name) {
        TensorRef t = tensors.get(name);
        if (t == null) {
            throw new StloadException(ErrorKind.TensorNotFound, path, "no tensor named `" + name + "` among its "
                    + tensors.size() + " (list them with `stload inspect`)");
        }
        return t;
    }

    /**
     * Looks a tensor up without failing.
     *
     * @param name the tensor's name
     * @return the tensor, or empty when the checkpoint has none of that name
     */
    public Optional<TensorRef> find(String name) {
        return Optional.ofNullable(tensors.get(name));
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
     * valid until this checkpoint is closed; pages are read from disk as they are touched. Should the file be
     * truncated under the mapping, touching a lost page throws {@link InternalError} (the JVM's SIGBUS);
     * {@link #copy} and {@link #slice} turn that into an Io error naming the file. A file in object storage
     * cannot be mapped: its view is the tensor's bytes, fetched by ranged GETs into memory the garbage
     * collector frees.
     *
     * @param name the tensor's name
     * @return the read-only view, owned by this checkpoint
     * @throws StloadException {@link ErrorKind#TensorNotFound} when there is no such tensor; {@link ErrorKind#Io}
     *                         when the file cannot be mapped or fetched
     * @throws IllegalStateException if the checkpoint is closed
     */
    public MemorySegment view(String name) {
        TensorRef t = tensor(name);
        if (remote != null) {
            return copy(name).data().asReadOnly();
        }
        return mappings.of(t.file()).asSlice(t.fileOffset(), t.info().byteSize()).asReadOnly();
    }

    /**
     * Describes and views a tensor ({@link #view}), for typed access such as {@link Tensor#getFloat}.
     *
     * @param name the tensor's name
     * @return the tensor over its view, valid until this checkpoint is closed
     * @throws StloadException as {@link #view} does
     */
    public Tensor viewTensor(String name) {
        return new Tensor(info(name), view(name));
    }

    /**
     * Copies a tensor's bytes into memory the caller owns.
     *
     * @param name      the tensor's name
     * @param allocator where the copy is allocated, e.g. an arena the caller closes
     * @return the tensor over the copy
     * @throws StloadException {@link ErrorKind#TensorNotFound}, or {@link ErrorKind#Io} if the file cannot be read
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
     * A copy of part of the tensor, e.g. {@code "0:4,:"} ({@link SliceSpec}), in row-major order; only the bytes
     * of the slice are read from the file.
     *
     * @param name      the tensor's name
     * @param ranges    the slice, e.g. {@code "0:4,:"}
     * @param allocator where the copy is allocated, e.g. an arena the caller closes
     * @return the slice as a tensor of its own shape
     * @throws StloadException InvalidSlice for a slice that does not parse or lies outside the tensor; TensorNotFound;
     *                         Io if the file cannot be read
     */
    public Tensor slice(String name, String ranges, SegmentAllocator allocator) {
        TensorRef t = tensor(name);
        SliceSpec spec = SliceSpec.parse(ranges, t.info());
        MemorySegment out = allocator.allocate(spec.byteSize(), 64);
        if (remote != null) {
            fetch(t, spec, out);
            return new Tensor(spec.local(), out);
        }
        try {
            spec.copy(view(name), out);
        } catch (InternalError e) {
            // The JVM's translation of SIGBUS: the file was truncated or its disk failed under the mapping.
            throw new StloadException(ErrorKind.Io, t.file().file(),
                    "file was truncated or became unreadable while mapped (" + e.getMessage() + ")", e);
        }
        return new Tensor(spec.local(), out);
    }

    /** A slice of a remote tensor: only its runs are fetched (ranged GETs for object storage). */
    private void fetch(TensorRef t, SliceSpec spec, MemorySegment out) {
        try (RangeSource source = remote.open(names.get(t.file()))) {
            RemoteSlice.read(source, t.fileOffset(), spec, out, remote.maxGapBytes());
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, location(t.file()) + ": " + e.getMessage(), e);
        }
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

    /** Unmaps the files behind every {@link #view}; using such a view afterwards throws. */
    @Override
    public void close() {
        mappings.close();
    }

    /** {@return the bytes of tensor data over all files} */
    public long totalBytes() {
        long sum = 0;
        for (Header h : files) {
            sum += h.dataBytes();
        }
        return sum;
    }

    /** The directory's index file, or null when it has none. */
    static Path findIndex(Path dir) {
        if (Files.exists(dir.resolve(DEFAULT_INDEX), LinkOption.NOFOLLOW_LINKS)) {
            return dir.resolve(DEFAULT_INDEX);
        }
        List<Path> candidates = list(dir, INDEX_SUFFIX);
        if (candidates.size() > 1) {
            throw new StloadException(ErrorKind.InvalidIndex, dir, "several index files and none is "
                    + DEFAULT_INDEX + ": " + candidates.stream().map(p -> p.getFileName().toString()).toList());
        }
        return candidates.isEmpty() ? null : candidates.get(0);
    }

    private static Checkpoint fromIndex(Path dir, Path indexFile, ContainedFiles contained, HubSnapshot snapshot,
                                        String hint) {
        Path realIndex = contained.realFile(indexFile, hint);
        ShardIndex index = ShardIndex.read(realIndex == null ? indexFile : realIndex, indexFile);
        Map<String, List<String>> tensorsByShard = tensorsByShard(index);
        // Every shard must be named safely and present before any header is read.
        Map<String, Path> shardPaths = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : tensorsByShard.entrySet()) {
            Path shard = resolveInside(dir, e.getKey(), indexFile);
            Path real = contained.realFile(shard, " (needed by " + needers(e.getValue()) + ")" + hint);
            if (real == null) {
                throw new StloadException(ErrorKind.MissingShard, shard, "shard named by "
                        + indexFile.getFileName() + " is missing; needed by " + needers(e.getValue()) + hint);
            }
            shardPaths.put(e.getKey(), real);
        }
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        Map<String, List<String>> unindexed = new LinkedHashMap<>();
        SameFileHeaders sameFiles = new SameFileHeaders();
        for (Map.Entry<String, Path> e : shardPaths.entrySet()) {
            Header h = sameFiles.read(e.getValue());
            names.put(h, e.getKey());
            checkAgainstIndex(h, e.getKey(), tensorsByShard.get(e.getKey()), index, unindexed);
            headers.add(h);
        }
        return fromFiles(dir, indexFile, headers, names, snapshot, indexed(index, names), index.metadata(), unindexed,
                null);
    }

    private static Map<String, List<String>> tensorsByShard(ShardIndex index) {
        Map<String, List<String>> tensorsByShard = new TreeMap<>();
        for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
            tensorsByShard.computeIfAbsent(e.getValue(), k -> new ArrayList<>()).add(e.getKey());
        }
        return tensorsByShard;
    }

    /** The tensors the index maps to the shard that holds them: the index is the allowlist. */
    private static Predicate<TensorRef> indexed(ShardIndex index, Map<Header, String> names) {
        return t -> names.get(t.file()).equals(index.weightMap().get(t.name()));
    }

    /**
     * The shard holds every tensor the index maps to it; any other tensor it holds is recorded in
     * {@code unindexed} (left out of the checkpoint, and noted).
     */
    private static void checkAgainstIndex(Header h, String shard, List<String> expected, ShardIndex index,
                                          Map<String, List<String>> unindexed) {
        for (String name : expected) {
            if (h.tensor(name) == null) {
                throw new StloadException(ErrorKind.InvalidIndex, h.file(), "index says this shard holds `"
                        + name + "`, but it does not");
            }
        }
        if (h.tensors().size() != expected.size()) {
            unindexed.put(shard, new UnindexedNames(h, shard, index.weightMap(), h.tensors().size() - expected.size()));
        }
    }

    /** The tensors a missing shard would have held, as a person reads them: a few names and a count. */
    private static String needers(List<String> tensors) {
        int shown = Math.min(3, tensors.size());
        String names = String.join(", ", tensors.subList(0, shown).stream().map(t -> "`" + t + "`").toList());
        return tensors.size() + " tensor(s): " + names + (tensors.size() > shown ? ", ..." : "");
    }

    private static Checkpoint fromUnindexed(Path dir, ContainedFiles contained, HubSnapshot snapshot, String hint) {
        List<Path> shards = list(dir, ".safetensors");
        if (shards.isEmpty()) {
            throw new StloadException(ErrorKind.MissingShard, dir, "directory holds no .safetensors file and no index"
                    + hint);
        }
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        SameFileHeaders sameFiles = new SameFileHeaders();
        for (Path p : shards) {
            Header h = sameFiles.read(contained.realFile(p, hint));
            headers.add(h);
            names.put(h, p.getFileName().toString());
        }
        return fromFiles(dir, null, headers, names, snapshot, t -> true, Map.of(), Map.of(), null);
    }

    /** The checkpoint of these files' tensors that {@code included} accepts (the index's, when there is one). */
    private static Checkpoint fromFiles(Path path, Path index, List<Header> headers, Map<Header, String> names,
                                        HubSnapshot snapshot, Predicate<TensorRef> included,
                                        Map<String, String> indexMetadata, Map<String, List<String>> unindexed,
                                        RemoteFolder remote) {
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        for (Header h : headers) {
            for (TensorInfo t : h.tensors()) {
                TensorRef ref = new TensorRef(t, h);
                if (!included.test(ref)) {
                    continue;
                }
                TensorRef previous = tensors.putIfAbsent(t.name(), ref);
                if (previous != null) {
                    throw new StloadException(ErrorKind.DuplicateTensorName, h.file(), "tensor `" + t.name()
                            + "` is also in " + previous.file().file());
                }
            }
        }
        return new Checkpoint(path, index, headers, tensors, names, snapshot, indexMetadata, unindexed, remote);
    }

    /** The shard's path, refusing any name that would leave the checkpoint directory. */
    static Path resolveInside(Path dir, String name, Path indexFile) {
        Path rel = Path.of(name);
        boolean escapes = name.isEmpty() || rel.isAbsolute() || name.contains("\\");
        for (Path part : rel) {
            escapes |= part.toString().equals("..");
        }
        // Compared as absolute paths: "." normalizes to the empty path, which no shard path starts with.
        Path base = dir.toAbsolutePath().normalize();
        Path inside = base.resolve(rel).normalize();
        Path resolved = dir.resolve(rel).normalize();
        if (escapes || !inside.startsWith(base) || inside.equals(base)) {
            throw new StloadException(ErrorKind.UnsafePath, indexFile, "shard name `" + name
                    + "` escapes the checkpoint directory; refusing to open it");
        }
        return resolved;
    }

    private static List<Path> list(Path dir, String suffix) {
        try (Stream<Path> s = Files.list(dir)) {
            // Symlinks are kept, dangling or not: the caller checks where they lead.
            return new ArrayList<>(new TreeSet<>(s.filter(p -> p.getFileName().toString().endsWith(suffix))
                    .filter(p -> Files.isRegularFile(p) || Files.isSymbolicLink(p)).toList()));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, dir, "cannot list directory: " + e.getMessage(), e);
        }
    }
}
