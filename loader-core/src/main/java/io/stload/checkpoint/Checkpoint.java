package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.TensorInfo;
import io.stload.io.RangeSource;
import java.io.IOException;
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
import java.util.stream.Stream;

/**
 * Which files make up a checkpoint, each with its validated header: a single {@code .safetensors} file, a
 * directory with a {@code *.safetensors.index.json} (every shard it names must exist and agree with it),
 * or a directory of {@code .safetensors} files without an index, or a hub-cache snapshot of one of those
 * (see {@link CheckpointSource}). Symlinks must resolve inside the directory (or, for a snapshot, the repo's
 * {@code blobs/}), and headers are read from the file the link resolves to. Opening reads headers only;
 * nothing is mapped or loaded, and no file is ever created, changed or deleted.
 */
public final class Checkpoint {
    private static final String INDEX_SUFFIX = ".safetensors.index.json";
    private static final String DEFAULT_INDEX = "model" + INDEX_SUFFIX;

    private final Path path;
    private final Path index;
    private final List<Header> files;
    private final Map<String, TensorRef> tensors;
    private final Map<Header, String> names;
    private final HubSnapshot snapshot;
    private final RemoteFolder remote;

    private Checkpoint(Path path, Path index, List<Header> files, Map<String, TensorRef> tensors,
                       Map<Header, String> names, HubSnapshot snapshot, RemoteFolder remote) {
        this.path = path;
        this.index = index;
        this.files = List.copyOf(files);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.names = names;
        this.snapshot = snapshot;
        this.remote = remote;
    }

    /** A file, or a checkpoint directory; a directory that is a hub snapshot may also link into its blobs. */
    public static Checkpoint open(Path path) {
        if (!Files.exists(path)) {
            throw new StloadException(ErrorKind.Io, path, "no such file or directory");
        }
        if (!Files.isDirectory(path)) {
            Header h = HeaderParser.read(path);
            return fromFiles(path, null, List.of(h), Map.of(h, path.toString()), null, null);
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
        return Optional.of(repoDir.resolve("blobs"));
    }

    /**
     * A checkpoint in a remote folder: its index if it has one (every shard it names must exist before any
     * header is read), else every {@code .safetensors} file in it; or, with {@code single} given, that one file.
     * Headers are read by positional reads of each file's first bytes.
     */
    public static Checkpoint open(RemoteFolder folder, String single) {
        try {
            if (single != null) {
                Header h = remoteHeader(folder, single);
                return fromFiles(folder.pathOf(single), null, List.of(h), Map.of(h, single), null, folder);
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
        for (Map.Entry<String, List<String>> e : tensorsByShard.entrySet()) {
            Header h = remoteHeader(folder, e.getKey());
            checkAgainstIndex(h, e.getKey(), e.getValue(), index, indexFile);
            names.put(h, e.getKey());
            headers.add(h);
        }
        return fromFiles(folder.pathOf(""), indexFile, headers, names, null, folder);
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
        return fromFiles(folder.pathOf(""), null, headers, names, null, folder);
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

    /** The folder this checkpoint's files are read from, or null for local files. */
    public RemoteFolder remote() {
        return remote;
    }

    /** The hub snapshot this checkpoint was resolved to, or null for a plain path. */
    public HubSnapshot snapshot() {
        return snapshot;
    }

    /** The commit of a hub snapshot, or null for a plain path. */
    public String commit() {
        return snapshot == null ? null : snapshot.commit();
    }

    /** A file as the checkpoint names it: relative to its directory, or the path given for a single file. */
    public String nameOf(Header file) {
        return names.get(file);
    }

    /** The path the checkpoint was opened from. */
    public Path path() {
        return path;
    }

    /** The index file, or null for a single file or an unindexed directory. */
    public Path index() {
        return index;
    }

    /** Its files, in name order. */
    public List<Header> files() {
        return files;
    }

    /** Every tensor, in file order and within a file in data order. */
    public Map<String, TensorRef> tensors() {
        return tensors;
    }

    public TensorRef tensor(String name) {
        return tensors.get(name);
    }

    /** Bytes of tensor data over all files. */
    public long totalBytes() {
        long sum = 0;
        for (Header h : files) {
            sum += h.dataBytes();
        }
        return sum;
    }

    private static Path findIndex(Path dir) {
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
        for (Map.Entry<String, Path> e : shardPaths.entrySet()) {
            Header h = HeaderParser.read(e.getValue());
            names.put(h, e.getKey());
            checkAgainstIndex(h, e.getKey(), tensorsByShard.get(e.getKey()), index, indexFile);
            headers.add(h);
        }
        return fromFiles(dir, indexFile, headers, names, snapshot, null);
    }

    private static Map<String, List<String>> tensorsByShard(ShardIndex index) {
        Map<String, List<String>> tensorsByShard = new TreeMap<>();
        for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
            tensorsByShard.computeIfAbsent(e.getValue(), k -> new ArrayList<>()).add(e.getKey());
        }
        return tensorsByShard;
    }

    /** The shard holds exactly the tensors the index maps to it. */
    private static void checkAgainstIndex(Header h, String shard, List<String> expected, ShardIndex index,
                                          Path indexFile) {
        for (String name : expected) {
            if (h.tensor(name) == null) {
                throw new StloadException(ErrorKind.InvalidIndex, h.file(), "index says this shard holds `"
                        + name + "`, but it does not");
            }
        }
        if (h.tensors().size() != expected.size()) {
            for (TensorInfo t : h.tensors()) {
                if (!shard.equals(index.weightMap().get(t.name()))) {
                    throw new StloadException(ErrorKind.InvalidIndex, h.file(), "shard holds `" + t.name()
                            + "`, which " + indexFile.getFileName() + " does not map to it");
                }
            }
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
        for (Path p : shards) {
            Header h = HeaderParser.read(contained.realFile(p, hint));
            headers.add(h);
            names.put(h, p.getFileName().toString());
        }
        return fromFiles(dir, null, headers, names, snapshot, null);
    }

    private static Checkpoint fromFiles(Path path, Path index, List<Header> headers, Map<Header, String> names,
                                        HubSnapshot snapshot, RemoteFolder remote) {
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        for (Header h : headers) {
            for (TensorInfo t : h.tensors()) {
                TensorRef previous = tensors.putIfAbsent(t.name(), new TensorRef(t, h));
                if (previous != null) {
                    throw new StloadException(ErrorKind.DuplicateTensorName, h.file(), "tensor `" + t.name()
                            + "` is also in " + previous.file().file());
                }
            }
        }
        return new Checkpoint(path, index, headers, tensors, names, snapshot, remote);
    }

    /** The shard's path, refusing any name that would leave the checkpoint directory. */
    private static Path resolveInside(Path dir, String name, Path indexFile) {
        Path rel = Path.of(name);
        boolean escapes = name.isEmpty() || rel.isAbsolute() || name.contains("\\");
        for (Path part : rel) {
            escapes |= part.toString().equals("..");
        }
        Path resolved = dir.resolve(rel).normalize();
        if (escapes || !resolved.startsWith(dir.normalize()) || resolved.equals(dir.normalize())) {
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
