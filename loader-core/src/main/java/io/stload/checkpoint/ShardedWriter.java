package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.format.SafetensorsWriter.DataSource;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.SafetensorsWriter;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.HeldLock;
import io.stload.nativeio.NativeAccess;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.json.JsonFactory;

/**
 * Writes a checkpoint directory in the hub's layout: tensors in order, cut into shards of at most
 * {@code maxShardBytes} of tensor data ({@code model-00001-of-00003.safetensors}, ...) with a
 * {@code model.safetensors.index.json} whose {@code metadata} holds {@code total_size} (the sum written, over a
 * user's key of that name) and the user's metadata and whose {@code weight_map} names each tensor's shard; a
 * checkpoint that fits one shard is a single {@code model.safetensors}. A tensor larger than the limit gets a shard
 * of its own. The user's metadata is also each shard's {@code __metadata__}, with each tensor's SHA-256 when asked.
 *
 * <p>The directory appears complete or not at all: everything is written into a temporary sibling, which is
 * then renamed to the target. The target must not exist, or be an empty directory.
 *
 * <p>A null argument is a {@link io.stload.ErrorKind#Usage} error, except where a parameter says null is allowed.
 */
public final class ShardedWriter {
    /** The index file's name in the hub's layout. */
    public static final String INDEX = "model.safetensors.index.json";
    /** The one file of a checkpoint that fits a single shard. */
    public static final String SINGLE = "model.safetensors";

    private static final JsonFactory JSON = JsonFactory.builder().build();
    /** Between a temporary tree's target name and the writing process's id: {@code .NAME.tmp-PID-NANOS}. */
    private static final String TMP_INFIX = ".tmp-";
    /** The file in a temporary tree that names the process writing it; deleted before the tree is renamed. */
    private static final String PARTIAL_MARKER = ".stload-partial";

    private ShardedWriter() {
    }

    /**
     * Writes the checkpoint into {@code dir} (see the class comment).
     *
     * @param dir           the directory to create; absent or empty
     * @param metadata      the user's metadata, or null for none
     * @param entries       the tensors, in the order they are written
     * @param source        writes each tensor's bytes, once, in order
     * @param maxShardBytes the most tensor data per shard
     * @return the files written, the index last
     * @throws IOException if a file cannot be written; nothing is left behind
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code maxShardBytes} is not positive, a
     *         name repeats, a shape is invalid, or {@code dir} exists and is not an empty directory
     */
    public static List<Path> write(Path dir, Map<String, String> metadata, List<Entry> entries, DataSource source,
                                   long maxShardBytes) throws IOException {
        return write(dir, metadata, entries, source, maxShardBytes, false);
    }

    /**
     * Writes the checkpoint into {@code dir} (see the class comment), optionally recording each tensor's SHA-256 in
     * the {@code __metadata__} of the shard that holds it ({@link io.stload.format.TensorDigest}), so that a reload
     * of a later checkpoint reads only the tensors whose bytes changed.
     *
     * @param dir           the directory to create; absent or empty
     * @param metadata      the user's metadata, or null for none
     * @param entries       the tensors, in the order they are written
     * @param source        writes each tensor's bytes, once, in order
     * @param maxShardBytes the most tensor data per shard
     * @param digests       whether each shard records its tensors' digests
     * @return the files written, the index last
     * @throws IOException if a file cannot be written; nothing is left behind
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code maxShardBytes} is not positive, a
     *         name repeats, a shape is invalid, or {@code dir} exists and is not an empty directory
     */
    public static List<Path> write(Path dir, Map<String, String> metadata, List<Entry> entries, DataSource source,
                                   long maxShardBytes, boolean digests) throws IOException {
        if (dir == null || entries == null || source == null) {
            throw StloadException.usage("a checkpoint is written to a directory, of entries and a source of their "
                    + "bytes, none of them null");
        }
        if (maxShardBytes <= 0) {
            throw StloadException.usage("shard size must be positive: " + maxShardBytes);
        }
        // Each shard refuses a name it holds twice; the index maps each name once, across shards too.
        Set<String> seen = new HashSet<>();
        for (Entry e : entries) {
            if (!seen.add(e.name())) {
                throw StloadException.usage("tensor name given twice: " + Printable.escape(e.name()));
            }
        }
        List<List<Entry>> shards = shards(entries, maxShardBytes);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < shards.size(); i++) {
            names.add(shards.size() == 1 ? SINGLE : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size()));
        }
        writeAtomically(dir, tmp -> {
            for (int i = 0; i < shards.size(); i++) {
                SafetensorsWriter.write(tmp.resolve(names.get(i)), metadata, shards.get(i), source, digests);
            }
            if (shards.size() > 1) {
                Files.write(tmp.resolve(INDEX), index(metadata, shards, names));
            }
        });
        List<Path> files = new ArrayList<>(names.stream().map(dir::resolve).toList());
        if (shards.size() > 1) {
            files.add(dir.resolve(INDEX));
        }
        return files;
    }

    /**
     * Cuts tensors into shards as Hugging Face's {@code save_pretrained} does: consecutive runs in order, a tensor
     * that would take a shard past the limit starting the next one, and one larger than the limit alone in its own.
     *
     * @param entries the tensors, in the order they are written
     * @param max     the most tensor data per shard
     * @return the shards' tensors, at least one (empty when {@code entries} is)
     */
    public static List<List<Entry>> shards(List<Entry> entries, long max) {
        StloadException.requireNonNull(entries, "the tensors to cut into shards are a list, not null");
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry e : entries) {
            if (!current.isEmpty() && e.byteSize() > max - bytes) { // no sum that could wrap
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(e);
            bytes += e.byteSize();
        }
        shards.add(current);
        return shards;
    }

    private static byte[] index(Map<String, String> metadata, List<List<Entry>> shards, List<String> names) {
        long total = shards.stream().flatMap(List::stream).mapToLong(Entry::byteSize).sum();
        ByteArrayOutputStream json = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(ObjectWriteContext.empty(), json)) {
            g.writeStartObject();
            g.writeName("metadata");
            g.writeStartObject();
            g.writeNumberProperty("total_size", total);
            if (metadata != null) {
                for (Map.Entry<String, String> m : new LinkedHashMap<>(metadata).entrySet()) {
                    if (!m.getKey().equals("total_size")) {
                        g.writeStringProperty(m.getKey(), m.getValue());
                    }
                }
            }
            g.writeEndObject();
            g.writeName("weight_map");
            g.writeStartObject();
            for (int i = 0; i < shards.size(); i++) {
                for (Entry e : shards.get(i)) {
                    g.writeStringProperty(e.name(), names.get(i));
                }
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        json.write('\n');
        return json.toByteArray();
    }

    /**
     * Fills a directory beside {@code dir}, then renames it to {@code dir}, or deletes it on any failure. {@code dir}
     * names the directory the kernel would: its parent's links are followed before a {@code ..} after them. When
     * {@code dir} is a symlink to a directory, the directory it points to is the one written (the link is kept);
     * a symlink to nothing is refused. While the temporary directory ({@code .NAME.tmp-PID-NANOS}) is written it
     * holds a marker naming this process, locked for as long as it writes, by which {@link #removeAbandoned} later
     * tells a tree left by a killed run from anything else. A thread interrupted while it writes (a signal handler's
     * way to stop it) stops at its next channel operation, and the temporary directory, with any folder above it that
     * this call created, is deleted before the exception leaves here.
     *
     * @param dir    the directory to create; absent or empty
     * @param filler writes the files into the temporary directory it is given
     * @throws IOException if the filler or the rename fails
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code dir} exists and is not an empty directory,
     *                         is a mount point, or is a link to no directory; if another process filled it meanwhile
     */
    public static void writeAtomically(Path dir, Filler filler) throws IOException {
        StloadException.requireNonNull(filler, "a directory is written by a filler, not null");
        Path target = target(dir);
        if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
            try (Stream<Path> children = Files.list(target)) {
                if (children.findAny().isPresent()) {
                    throw taken(dir, "exists and is not empty");
                }
            }
            // Found out now, not after the whole output is written: a mount point cannot be replaced (EBUSY).
            if (!Files.getAttribute(target, "unix:dev").equals(Files.getAttribute(target.getParent(), "unix:dev"))) {
                throw taken(dir, "is a mount point, which the output (written"
                        + " beside it, then renamed into place) cannot replace");
            }
        } else if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            throw taken(dir, "exists and is not a directory");
        }
        Path parent = target.getParent();
        Path outermostCreated = outermostMissing(parent);
        Path tmp;
        try {
            Files.createDirectories(parent);
            // Not createTempDirectory: its owner-only permissions would become the checkpoint's.
            tmp = Files.createDirectory(parent.resolve(temporaryPrefix(target)
                    + ProcessHandle.current().pid() + "-" + (System.nanoTime() & Long.MAX_VALUE)));
        } catch (IOException | RuntimeException | Error e) {
            deleteEmptyFolders(parent, outermostCreated);
            throw e;
        }
        try {
            fill(tmp, filler);
            try {
                Files.deleteIfExists(target); // an empty directory, checked above; never a link (target() resolved it)
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                // rename(2) over a folder another writer has just filled fails with ENOTEMPTY, which the JDK reports
                // as one exception or another depending on the moment.
                if (filled(target)) {
                    throw taken(dir, "was filled by another process while this one wrote it");
                }
                throw e;
            }
        } catch (IOException | RuntimeException | Error e) {
            deleteTree(tmp);
            deleteEmptyFolders(parent, outermostCreated);
            throw e;
        }
    }

    /**
     * Runs the filler with the tree locked and its marker written, and deletes the marker before the lock is let go:
     * while the tree bears a marker, its writer is alive exactly when the tree is locked, whatever process ids the
     * reader can see.
     */
    private static void fill(Path tmp, Filler filler) throws IOException {
        // Nobody else probes the lock of a tree without a marker (removeAbandoned reads the marker first).
        try (FolderLock lock = FolderLock.tryTake(tmp).orElseThrow(() -> new IOException(tmp + " is locked"))) {
            Path marker = tmp.resolve(PARTIAL_MARKER);
            Files.writeString(marker, writer(ProcessHandle.current()), StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE);
            filler.fill(tmp);
            Files.delete(marker);
        }
    }

    private static boolean filled(Path folder) {
        try (Stream<Path> children = Files.list(folder)) {
            return children.findAny().isPresent();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The outermost of {@code folder} and the folders above it that do not exist yet; null if it exists. */
    private static Path outermostMissing(Path folder) {
        Path missing = null;
        for (Path p = folder; p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
            missing = p;
        }
        return missing;
    }

    /** Deletes {@code folder} and those above it up to {@code outermost}, while they are empty: a failed run's own. */
    private static void deleteEmptyFolders(Path folder, Path outermost) {
        if (outermost == null) {
            return;
        }
        for (Path p = folder; p != null && p.startsWith(outermost); p = p.getParent()) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException | RuntimeException e) {
                return; // something else put a file there meanwhile: it stays
            }
        }
    }

    /**
     * {@code .NAME.tmp-}, which the writer's process id and a time follow: NAME cut to 200 bytes, so that the whole
     * stays within the 255 bytes a file name may have (the two numbers take 40 at most).
     */
    private static String temporaryPrefix(Path target) {
        String name = target.getFileName().toString();
        while (name.getBytes(StandardCharsets.UTF_8).length > 200) {
            name = name.substring(0, name.offsetByCodePoints(name.length(), -1));
        }
        return "." + name + TMP_INFIX;
    }

    /** The caller's to fix: a folder that holds something of theirs is never written into. */
    private static StloadException taken(Path dir, String reason) {
        return new StloadException(ErrorKind.Usage, dir, reason + "; choose a new folder");
    }

    /**
     * The directory {@link #writeAtomically} writes for {@code dir}: {@code dir} itself, or the directory a symlink
     * there points to; never the link, which is the user's.
     */
    private static Path target(Path dir) throws IOException {
        requireDir(dir);
        Path absolute = FileChecks.kernelPath(dir).toAbsolutePath().normalize();
        if (!Files.isSymbolicLink(absolute)) {
            return absolute;
        }
        Path real;
        try {
            real = absolute.toRealPath();
        } catch (NoSuchFileException e) {
            throw taken(dir, "is a symlink to "
                    + Files.readSymbolicLink(absolute) + ", which does not exist");
        }
        if (!Files.isDirectory(real)) {
            throw taken(dir, "is a symlink to " + real
                    + ", which is not a directory");
        }
        return real;
    }

    /**
     * Deletes the temporary trees beside {@code dir} that {@link #writeAtomically} began for it in a process that
     * is gone (killed before it could clean up): a directory named as {@code writeAtomically} names them, holding
     * the marker it writes first, naming a process that no longer runs (or whose id a later process now has).
     * Nothing else is touched, and nothing is followed through a symlink.
     *
     * @param dir the directory such a run was writing
     * @return the trees deleted
     * @throws IOException if the folder holding {@code dir} cannot be listed, or a tree cannot be deleted
     */
    public static List<Path> removeAbandoned(Path dir) throws IOException {
        Path target = target(dir);
        Path parent = target.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            return List.of();
        }
        Pattern name = Pattern.compile(Pattern.quote(temporaryPrefix(target)) + "(\\d{1,19})-\\d{1,19}");
        List<Path> removed = new ArrayList<>();
        try (Stream<Path> siblings = Files.list(parent)) {
            for (Path p : siblings.toList()) {
                Matcher m = name.matcher(p.getFileName().toString());
                if (m.matches() && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) && abandoned(p, m.group(1))) {
                    deleteTree(p);
                    if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                        throw new IOException(p + ": cannot delete the partial output of an interrupted run");
                    }
                    removed.add(p);
                }
            }
        }
        return removed;
    }

    /**
     * Deletes the temporary trees this process began beside {@code dir}: for a signal handler, should the thread
     * writing one not unwind in time. Best effort: a failure is ignored.
     *
     * @param dir the directory this process is writing
     */
    public static void removeOwnTemporaries(Path dir) {
        requireDir(dir); // before the best effort, which would take a null for a failure to ignore
        try {
            Path target = target(dir);
            String prefix = temporaryPrefix(target) + ProcessHandle.current().pid() + "-";
            try (Stream<Path> siblings = Files.list(target.getParent())) {
                siblings.filter(p -> p.getFileName().toString().startsWith(prefix)).forEach(ShardedWriter::deleteTree);
            }
        } catch (IOException | RuntimeException e) {
            // Best effort, on the way out.
        }
    }

    private static void requireDir(Path dir) {
        StloadException.requireNonNull(dir, "the directory written is a path, not null");
    }

    /**
     * The tree holds the marker of process {@code pid}, and that process is gone: not among this process's view of
     * the running ones, and not holding the tree's lock (a writer in another PID namespace, in a container sharing
     * the folder, is invisible here but still holds it).
     */
    private static boolean abandoned(Path tree, String pid) {
        Path marker = tree.resolve(PARTIAL_MARKER);
        String recorded;
        try {
            if (!Files.isRegularFile(marker, LinkOption.NOFOLLOW_LINKS) || Files.size(marker) > 256) {
                return false;
            }
            recorded = Files.readString(marker);
        } catch (IOException | RuntimeException e) {
            return false;
        }
        if (!recorded.startsWith(pid + " ")) {
            return false;
        }
        Optional<ProcessHandle> process;
        try {
            process = ProcessHandle.of(Long.parseLong(pid));
        } catch (NumberFormatException e) {
            return false;
        }
        // The same id with another start time is a later process: the writer is gone all the same.
        return (process.isEmpty() || !writer(process.get()).equals(recorded)) && unlocked(tree, marker);
    }

    /**
     * Nobody holds the tree's lock, and its marker is still there (a writer that finished deleted it before letting
     * go). Where there are no locks, the process id has said it.
     */
    private static boolean unlocked(Path tree, Path marker) {
        HeldLock held;
        try {
            held = NativeAccess.get().tryLockFolder(tree);
        } catch (IOException e) {
            return false; // gone meanwhile, or not to be opened: nothing to delete here
        }
        if (held == null) {
            return false;
        }
        try (held) {
            return Files.exists(marker, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return false;
        }
    }

    /** What the marker records of the process writing a tree: its id and, where known, when it started. */
    private static String writer(ProcessHandle p) {
        return p.pid() + " " + p.info().startInstant().map(i -> Long.toString(i.toEpochMilli())).orElse("?") + "\n";
    }

    /** Writes the files of a directory into the folder it is given. */
    @FunctionalInterface
    public interface Filler {
        /**
         * Writes the files.
         *
         * @param dir the temporary directory to write into
         * @throws IOException if a file cannot be written
         */
        void fill(Path dir) throws IOException;
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // Best effort: the failure that brought us here is the one to report.
        }
    }
}
