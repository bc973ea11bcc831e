package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Which files make up a checkpoint, each with its validated header: a single {@code .safetensors} file, a
 * directory with a {@code *.safetensors.index.json} (every shard it names must exist and agree with it),
 * or a directory of {@code .safetensors} files without an index. Opening reads headers only; nothing is
 * mapped or loaded, and no file is ever created, changed or deleted.
 */
public final class Checkpoint {
    private static final String INDEX_SUFFIX = ".safetensors.index.json";
    private static final String DEFAULT_INDEX = "model" + INDEX_SUFFIX;

    private final Path path;
    private final Path index;
    private final List<Header> files;
    private final Map<String, TensorRef> tensors;

    private Checkpoint(Path path, Path index, List<Header> files, Map<String, TensorRef> tensors) {
        this.path = path;
        this.index = index;
        this.files = List.copyOf(files);
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    public static Checkpoint open(Path path) {
        if (!Files.exists(path)) {
            throw new StloadException(ErrorKind.Io, path, "no such file or directory");
        }
        if (!Files.isDirectory(path)) {
            return fromFiles(path, null, List.of(HeaderParser.read(path)));
        }
        Path index = findIndex(path);
        return index != null ? fromIndex(path, index) : fromDirectory(path);
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
        if (Files.isRegularFile(dir.resolve(DEFAULT_INDEX))) {
            return dir.resolve(DEFAULT_INDEX);
        }
        List<Path> candidates = list(dir, INDEX_SUFFIX);
        if (candidates.size() > 1) {
            throw new StloadException(ErrorKind.InvalidIndex, dir, "several index files and none is "
                    + DEFAULT_INDEX + ": " + candidates.stream().map(p -> p.getFileName().toString()).toList());
        }
        return candidates.isEmpty() ? null : candidates.get(0);
    }

    private static Checkpoint fromIndex(Path dir, Path indexFile) {
        ShardIndex index = ShardIndex.read(indexFile);
        Map<String, List<String>> tensorsByShard = new TreeMap<>();
        for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
            tensorsByShard.computeIfAbsent(e.getValue(), k -> new ArrayList<>()).add(e.getKey());
        }
        // Every shard must be named safely and present before any header is read.
        Map<String, Path> shardPaths = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : tensorsByShard.entrySet()) {
            Path shard = resolveInside(dir, e.getKey(), indexFile);
            if (!Files.isRegularFile(shard)) {
                List<String> needing = e.getValue();
                throw new StloadException(ErrorKind.MissingShard, shard, "shard named by "
                        + indexFile.getFileName() + " is missing; it holds " + needing.size() + " tensor(s), e.g. `"
                        + needing.get(0) + "`");
            }
            shardPaths.put(e.getKey(), shard);
        }
        List<Header> headers = new ArrayList<>();
        for (Map.Entry<String, Path> e : shardPaths.entrySet()) {
            Header h = HeaderParser.read(e.getValue());
            List<String> expected = tensorsByShard.get(e.getKey());
            for (String name : expected) {
                if (h.tensor(name) == null) {
                    throw new StloadException(ErrorKind.InvalidIndex, h.file(), "index says this shard holds `"
                            + name + "`, but it does not");
                }
            }
            if (h.tensors().size() != expected.size()) {
                for (TensorInfo t : h.tensors()) {
                    if (!e.getKey().equals(index.weightMap().get(t.name()))) {
                        throw new StloadException(ErrorKind.InvalidIndex, h.file(), "shard holds `" + t.name()
                                + "`, which " + indexFile.getFileName() + " does not map to it");
                    }
                }
            }
            headers.add(h);
        }
        return fromFiles(dir, indexFile, headers);
    }

    private static Checkpoint fromDirectory(Path dir) {
        List<Path> shards = list(dir, ".safetensors");
        if (shards.isEmpty()) {
            throw new StloadException(ErrorKind.MissingShard, dir, "directory holds no .safetensors file and no index");
        }
        List<Header> headers = new ArrayList<>();
        for (Path p : shards) {
            headers.add(HeaderParser.read(p));
        }
        return fromFiles(dir, null, headers);
    }

    private static Checkpoint fromFiles(Path path, Path index, List<Header> headers) {
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
        return new Checkpoint(path, index, headers, tensors);
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
            return new ArrayList<>(new TreeSet<>(s.filter(p -> p.getFileName().toString().endsWith(suffix))
                    .filter(Files::isRegularFile).toList()));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, dir, "cannot list directory: " + e.getMessage(), e);
        }
    }
}
