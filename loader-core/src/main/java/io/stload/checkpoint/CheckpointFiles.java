package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.RangeSource;
import io.stload.format.ShardIndex;
import io.stload.format.TensorInfo;
import io.stload.format.UnknownDtypes;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Which files make a checkpoint, and whether they are valid: a single {@code .safetensors} file; a directory (or a
 * folder in object storage) with a {@code *.safetensors.index.json}, whose every shard must be named safely, be
 * present, and hold what the index says; or a directory of {@code .safetensors} files without an index. Symlinks must
 * resolve inside the checkpoint (a hub snapshot's, inside its repo's {@code blobs/}). Headers are read from the files
 * the links resolve to; nothing is created, changed or deleted.
 *
 * <p>Opening a checkpoint stops at the first problem; verifying one goes on and collects every problem: both walk the
 * files here, with a different {@link Problems}.
 */
final class CheckpointFiles {
    static final String INDEX_SUFFIX = ".safetensors.index.json";
    static final String DEFAULT_INDEX = "model" + INDEX_SUFFIX;

    /** Where the problems found go. */
    @FunctionalInterface
    interface Problems {
        /** Stops at the first problem: what opening a checkpoint does. */
        Problems FIRST = e -> {
            throw e;
        };

        /**
         * Takes a problem, or throws it to stop.
         *
         * @param problem what is wrong, with its kind and file
         */
        void add(StloadException problem);
    }

    /**
     * What the walk found: the files (without those that failed), their names, the index, the shards it lists
     * (those that failed among them) and its metadata, the tensors the index does not map to the shard that holds
     * them, and each local file's real path (behind its links).
     */
    record Found(Path path, Path index, Set<String> listed, List<Header> headers, Map<Header, String> names,
                 Map<String, String> indexMetadata, Map<String, List<String>> unindexed, Map<Header, Path> real,
                 Predicate<TensorRef> included) {
        /** Every tensor by name, in file order; a name held twice is a problem. */
        Map<String, TensorRef> tensors(Problems problems) {
            Map<String, TensorRef> tensors = new LinkedHashMap<>();
            for (Header h : headers) {
                for (TensorInfo t : h.tensors()) {
                    TensorRef ref = new TensorRef(t, h);
                    if (!included.test(ref)) {
                        continue;
                    }
                    TensorRef previous = tensors.putIfAbsent(t.name(), ref);
                    if (previous != null) {
                        problems.add(new StloadException(ErrorKind.DuplicateTensorName, h.file(), "tensor `"
                                + t.name() + "` is also in " + previous.file().file()));
                    }
                }
            }
            return tensors;
        }
    }

    private CheckpointFiles() {
    }

    /** One file, refusing a dtype the format does not define. */
    static Found single(Path file) {
        return single(file, UnknownDtypes.REFUSE);
    }

    /** One file. */
    static Found single(Path file, UnknownDtypes unknown) {
        Header h = HeaderParser.read(file, unknown);
        return new Found(file, null, Set.of(), List.of(h), Map.of(h, file.toString()), Map.of(), Map.of(),
                Map.of(h, file), t -> true);
    }

    /**
     * A directory: its index and the shards it names, else every {@code .safetensors} file directly in it.
     *
     * @param dir       the directory
     * @param contained where its files may really live
     * @param hint      added to a missing file's message (how to fetch it), or empty
     * @param problems  where problems go
     * @return what was found; with {@link Problems#FIRST}, a valid checkpoint
     */
    static Found directory(Path dir, ContainedFiles contained, String hint, Problems problems) {
        return directory(dir, contained, hint, problems, UnknownDtypes.REFUSE);
    }

    /** As {@link #directory(Path, ContainedFiles, String, Problems)}, with tensors of unknown dtype as asked. */
    static Found directory(Path dir, ContainedFiles contained, String hint, Problems problems, UnknownDtypes unknown) {
        Path index;
        try {
            index = findIndex(dir);
        } catch (StloadException e) {
            problems.add(e);
            return empty(dir);
        }
        return index != null ? indexed(dir, index, contained, hint, problems, unknown)
                : unindexed(dir, contained, hint, problems, unknown);
    }

    private static Found empty(Path dir) {
        return new Found(dir, null, Set.of(), List.of(), Map.of(), Map.of(), Map.of(), Map.of(), t -> true);
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

    private static Found indexed(Path dir, Path indexFile, ContainedFiles contained, String hint, Problems problems,
                                 UnknownDtypes unknown) {
        ShardIndex index;
        try {
            Path realIndex = contained.realFile(indexFile, hint);
            index = ShardIndex.read(realIndex == null ? indexFile : realIndex, indexFile);
        } catch (StloadException e) {
            problems.add(e);
            return empty(dir);
        }
        Map<String, List<String>> tensorsByShard = tensorsByShard(index);
        // Every shard must be named safely and present before any header is read.
        Map<String, Path> shardPaths = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : tensorsByShard.entrySet()) {
            try {
                Path shard = resolveInside(dir, e.getKey(), indexFile);
                Path real = contained.realFile(shard, " (needed by " + needers(e.getValue()) + ")" + hint);
                if (real == null) {
                    throw new StloadException(ErrorKind.MissingShard, shard, "shard named by "
                            + indexFile.getFileName() + " is missing; needed by " + needers(e.getValue()) + hint);
                }
                shardPaths.put(e.getKey(), real);
            } catch (StloadException ex) {
                problems.add(ex);
            }
        }
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        Map<Header, Path> real = new IdentityHashMap<>();
        Map<String, List<String>> unindexed = new LinkedHashMap<>();
        SameFileHeaders sameFiles = new SameFileHeaders(unknown);
        for (Map.Entry<String, Path> e : shardPaths.entrySet()) {
            try {
                Header h = sameFiles.read(e.getValue());
                names.put(h, e.getKey());
                real.put(h, e.getValue());
                checkAgainstIndex(h, e.getKey(), tensorsByShard.get(e.getKey()), index, unindexed, problems);
                headers.add(h);
            } catch (StloadException ex) {
                problems.add(ex);
            }
        }
        return new Found(dir, indexFile, Set.copyOf(tensorsByShard.keySet()), headers, names, index.metadata(),
                unindexed, real, indexed(index, names));
    }

    /** A shard named as the hub names them, {@code PREFIX-00002-of-00005.safetensors}. */
    private static final Pattern SERIES = Pattern.compile("(.+)-(\\d{5})-of-(\\d{5})\\.safetensors");

    /**
     * Without an index, the shards' own names still say how many there are: {@code model-00001-of-00005} alone is a
     * checkpoint still being downloaded or copied, never one of one shard. The first missing shard of a series, if any.
     */
    private static Optional<StloadException> missingOfSeries(Collection<String> shards, Function<String, Path> pathOf,
                                                            String hint) {
        Set<String> present = new TreeSet<>(shards);
        Set<String> checked = new HashSet<>(); // each series once, however many of its shards are there
        for (String name : present) {
            Matcher m = SERIES.matcher(name);
            if (!m.matches() || !checked.add(m.group(1) + "\0" + m.group(3))) {
                continue;
            }
            int total = Integer.parseInt(m.group(3));
            List<String> missing = new ArrayList<>();
            for (int k = 1; k <= total; k++) {
                String sibling = String.format("%s-%05d-of-%05d.safetensors", m.group(1), k, total);
                if (!present.contains(sibling)) {
                    missing.add(sibling);
                }
            }
            if (!missing.isEmpty()) {
                return Optional.of(new StloadException(ErrorKind.MissingShard, pathOf.apply(missing.getFirst()),
                        missing.size() + " of the " + total + " shards " + name + " belongs to are missing, and no "
                        + "index lists the checkpoint's files" + hint));
            }
        }
        return Optional.empty();
    }

    private static Found unindexed(Path dir, ContainedFiles contained, String hint, Problems problems,
                                   UnknownDtypes unknown) {
        List<Path> shards = list(dir, ".safetensors");
        if (shards.isEmpty()) {
            // The root of a resharded checkpoint is not one: each rank's folder is.
            String ranks = Files.isDirectory(dir.resolve("rank-00000"))
                    ? "; it holds rank folders written by reshard: name one (rank-00000/), or load it as one rank of"
                    + " the world size it was written for" : "";
            problems.add(new StloadException(ErrorKind.MissingShard, dir,
                    "directory holds no .safetensors file and no index" + ranks + hint));
        }
        missingOfSeries(shards.stream().map(p -> p.getFileName().toString()).toList(), dir::resolve, hint)
                .ifPresent(problems::add);
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        Map<Header, Path> real = new IdentityHashMap<>();
        SameFileHeaders sameFiles = new SameFileHeaders(unknown);
        for (Path p : shards) {
            try {
                if (Files.isDirectory(p)) { // a folder or a link to one: no index to blame, as realFile would
                    throw new StloadException(ErrorKind.Io, p, "is a directory, not a regular file; refusing to"
                            + " open it");
                }
                Path file = contained.realFile(p, hint);
                Header h = sameFiles.read(file);
                headers.add(h);
                names.put(h, p.getFileName().toString());
                real.put(h, file);
            } catch (StloadException e) {
                problems.add(e);
            }
        }
        return new Found(dir, null, Set.of(), headers, names, Map.of(), Map.of(), real, t -> true);
    }

    /**
     * A folder in object storage: its index if it has one (every shard it names must exist before any header is
     * read), else every {@code .safetensors} file in it; or, with {@code single} given, that one file. Headers are
     * read by positional reads of each file's first bytes.
     */
    static Found remote(RemoteFolder folder, String single, UnknownDtypes unknown) {
        try {
            if (single != null) {
                Header h = remoteHeader(folder, single, unknown);
                return new Found(folder.pathOf(single), null, Set.of(), List.of(h), Map.of(h, single), Map.of(),
                        Map.of(), Map.of(), t -> true);
            }
            List<String> indexes = folder.list(INDEX_SUFFIX);
            String index = indexes.contains(DEFAULT_INDEX) ? DEFAULT_INDEX : indexes.size() == 1 ? indexes.get(0) : null;
            if (indexes.size() > 1 && index == null) {
                throw new StloadException(ErrorKind.InvalidIndex, null, folder.location() + ": several index files and"
                        + " none is " + DEFAULT_INDEX + ": " + indexes);
            }
            if (index != null && !isPlainName(index)) {
                throw escapes(folder, index);
            }
            return index != null ? remoteIndexed(folder, index, unknown) : remoteUnindexed(folder, unknown);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, folder.location() + ": " + e.getMessage(), e);
        }
    }

    private static Found remoteIndexed(RemoteFolder folder, String indexName, UnknownDtypes unknown)
            throws IOException {
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
            Header h = remoteHeader(folder, e.getKey(), unknown);
            checkAgainstIndex(h, e.getKey(), e.getValue(), index, unindexed, Problems.FIRST);
            names.put(h, e.getKey());
            headers.add(h);
        }
        return new Found(folder.pathOf(""), indexFile, Set.copyOf(tensorsByShard.keySet()), headers, names,
                index.metadata(), unindexed, Map.of(), indexed(index, names));
    }

    private static Found remoteUnindexed(RemoteFolder folder, UnknownDtypes unknown) throws IOException {
        List<String> shards = listed(folder, ".safetensors");
        if (shards.isEmpty()) {
            throw new StloadException(ErrorKind.MissingShard, null, folder.location()
                    + ": folder holds no .safetensors file and no index");
        }
        missingOfSeries(shards, folder::pathOf, "").ifPresent(e -> {
            throw e;
        });
        List<Header> headers = new ArrayList<>();
        Map<Header, String> names = new IdentityHashMap<>();
        for (String name : shards) {
            Header h = remoteHeader(folder, name, unknown);
            headers.add(h);
            names.put(h, name);
        }
        return new Found(folder.pathOf(""), null, Set.of(), headers, names, Map.of(), Map.of(), Map.of(), t -> true);
    }

    private static Header remoteHeader(RemoteFolder folder, String name, UnknownDtypes unknown) throws IOException {
        try (RangeSource source = folder.open(name)) {
            return HeaderParser.read(source, folder.pathOf(name), unknown);
        }
    }

    /** A shard name inside the folder: no parent steps, no absolute or backslashed names. */
    /**
     * The names a remote folder lists that end in {@code suffix}, each one a name inside the folder, as an index's are
     * held to: a listing is the store's answer, and a key such as {@code prefix/../other/x} would be read from outside.
     */
    private static List<String> listed(RemoteFolder folder, String suffix) throws IOException {
        List<String> names = folder.list(suffix);
        for (String name : names) {
            if (!isPlainName(name)) {
                throw escapes(folder, name);
            }
        }
        return names;
    }

    private static StloadException escapes(RemoteFolder folder, String listedName) {
        return new StloadException(ErrorKind.UnsafePath, null, folder.location() + ": listed name `" + listedName
                + "` is no plain name in the checkpoint folder; refusing to open it");
    }

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
                                          Map<String, List<String>> unindexed, Problems problems) {
        int present = 0;
        for (String name : expected) {
            if (h.find(name).isEmpty()) {
                problems.add(new StloadException(ErrorKind.InvalidIndex, h.file(), "index says this shard holds `"
                        + name + "`, but it does not"));
            } else {
                present++;
            }
        }
        if (h.tensors().size() > present) {
            // A view, not a copy: shards that are one file under many names would each copy most of its table.
            unindexed.put(shard, new UnindexedNames(h, shard, index.weightMap(), h.tensors().size() - present));
        }
    }

    /** The tensors a missing shard would have held, as a person reads them: a few names and a count. */
    private static String needers(List<String> tensors) {
        int shown = Math.min(3, tensors.size());
        String names = String.join(", ", tensors.subList(0, shown).stream().map(t -> "`" + t + "`").toList());
        return tensors.size() + " tensor(s): " + names + (tensors.size() > shown ? ", ..." : "");
    }

    /** The shard's path, refusing any name that would leave the checkpoint directory. */
    static Path resolveInside(Path dir, String name, Path indexFile) {
        Path rel = Path.of(name);
        boolean escapes = name.isEmpty() || rel.isAbsolute() || name.contains("\\");
        for (Path part : rel) {
            escapes |= part.toString().equals("..");
        }
        // Compared absolute: "." normalizes to the empty path, which no shard path starts with.
        Path base = dir.toAbsolutePath().normalize();
        Path resolved = dir.resolve(rel).normalize();
        Path absolute = base.resolve(rel).normalize();
        if (escapes || !absolute.startsWith(base) || absolute.equals(base)) {
            throw new StloadException(ErrorKind.UnsafePath, indexFile, "shard name `" + name
                    + "` escapes the checkpoint directory; refusing to open it");
        }
        return resolved;
    }

    /** The directory's own files with {@code suffix}, symlinks kept (dangling or not: the caller checks them). */
    static List<Path> list(Path dir, String suffix) {
        // Whatever bears the name, a FIFO or a folder too: opening it is refused with a line, never passed over unsaid.
        try (Stream<Path> s = Files.list(dir)) {
            return new ArrayList<>(new TreeSet<>(s.filter(p -> p.getFileName().toString().endsWith(suffix)).toList()));
        } catch (IOException e) {
            throw FileChecks.failure(dir, "cannot list directory", e);
        }
    }
}
