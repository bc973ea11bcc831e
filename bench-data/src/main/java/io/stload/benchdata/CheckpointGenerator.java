package io.stload.benchdata;

import io.stload.StloadException;
import io.stload.benchdata.CheckpointLayout.Shard;
import io.stload.checkpoint.FolderLock;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.Entry;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes the checkpoint a {@link CheckpointSpec} describes into a directory, such that the directory holds the
 * whole checkpoint or no checkpoint at all, whenever the run stops:
 * <ol>
 * <li>The directory must be new, empty, or hold only what an earlier run wrote there, which the marker file
 * {@value #MARKER} (written first) lists; anything else, e.g. another checkpoint, is refused, never overwritten.
 * An earlier run's files are deleted, shards first and the index last (a partial set of shards under an index
 * is no checkpoint, while without one it would pass as a smaller one).</li>
 * <li>Every file is written under a staging name ({@code NAME.partial}), which no reader takes for a checkpoint
 * file.</li>
 * <li>The staged files are renamed into place, the index first: until the last shard is in place, the index
 * names a missing shard.</li>
 * </ol>
 * A failure, or an interrupt of the writing thread (its file channel then fails), deletes what this run wrote; a
 * run killed outright leaves staged files and the marker, which the next run into the directory deletes.
 */
public final class CheckpointGenerator {
    /** Room for a shard's header (names, shapes, offsets) or the index, well above any this generator writes. */
    private static final long HEADER_ALLOWANCE = 1 << 20;
    /** The file listing what this generator writes in a directory, so that a later run may replace it. */
    public static final String MARKER = ".stload-gen";
    private static final String MARKER_FIRST_LINE = "# written by stload gen; it may replace these files";
    /** The suffix of a file while it is written, before it is renamed into place. */
    private static final String STAGED = ".partial";
    /** The names this generator writes; a marker's line naming anything else is ignored. */
    private static final Pattern OWN_NAME = Pattern.compile(
            "model\\.safetensors|model-\\d{5}-of-\\d{5}\\.safetensors|model\\.safetensors\\.index\\.json|config\\.json");
    /** A file of ours while it is written: staged, and a writer's temporary file ({@code NAME.tmp-PID}). */
    private static final Pattern OWN_TEMPORARY = Pattern.compile("(.*?)(\\.partial)?(\\.tmp-\\d+)?");

    private CheckpointGenerator() {
    }

    /**
     * Writes the checkpoint (see the class comment). A path that is a file, or a directory holding anything
     * this generator did not write, is a {@link FileAlreadyExistsException} with the reason; too little free space
     * an {@link IOException} before anything is written or deleted.
     */
    public static CheckpointSummary generate(CheckpointSpec spec, Path dir) throws IOException {
        CheckpointLayout layout = CheckpointLayout.of(spec);
        long start = System.nanoTime();
        write(dir, layout.shards(), spec.sharded(), spec.fileMetadata(), spec.seed(), Map.of());
        return summary(spec, dir, layout, true, System.nanoTime() - start);
    }

    /**
     * Writes shards (and their index when {@code sharded}) and other small files into {@code dir}, by the rules of
     * the class comment: what {@link #generate} and {@link HubCheckpointGenerator} write.
     *
     * @param extra small files written beside the shards (a {@code config.json}), by name, renamed into place first
     */
    static void write(Path dir, List<Shard> shards, boolean sharded, Map<String, String> metadata, long seed,
                      Map<String, String> extra) throws IOException {
        List<String> names = new ArrayList<>(shards.stream().map(Shard::fileName).toList());
        if (sharded) {
            names.add(CheckpointLayout.INDEX_FILE_NAME);
        }
        names.addAll(extra.keySet());
        long tensorBytes = CheckpointLayout.total(shards.stream().mapToLong(Shard::tensorBytes));
        boolean created = !Files.exists(dir, LinkOption.NOFOLLOW_LINKS);
        if (created) {
            requireFreeSpace(dir, tensorBytes, shards.size(), List.of()); // before a folder is made
        } else if (!Files.isDirectory(dir)) {
            earlierOutput(dir); // refuses it, saying why; what a folder holds is looked at under its lock
        }
        Files.createDirectories(dir);
        // The folder itself, where DIR is a link to it: another run may name it by another path.
        try (FolderLock lock = FolderLock.tryTake(dir.toRealPath()).orElseThrow(() -> new FileAlreadyExistsException(
                dir.toString(), null, "another gen is writing it now; wait for it, or name another directory"))) {
            write(dir, shards, sharded, metadata, seed, extra, names, tensorBytes, created);
        }
    }

    /** {@link #write}, holding the directory's lock: no other run changes it meanwhile. */
    private static void write(Path dir, List<Shard> shards, boolean sharded, Map<String, String> metadata, long seed,
                              Map<String, String> extra, List<String> names, long tensorBytes, boolean created)
            throws IOException {
        List<Path> earlier = earlierOutput(dir); // again: a run that held the lock may have changed it
        requireFreeSpace(dir, tensorBytes, shards.size(), earlier);
        try {
            removeEarlierOutput(dir, earlier);
            writeMarker(dir, names);
            RandomTensorData data = new RandomTensorData(seed);
            Map<String, String> weightMap = new LinkedHashMap<>();
            for (Shard shard : shards) {
                SafetensorsWriter.write(dir.resolve(shard.fileName() + STAGED), metadata, shard.entries(), data);
                for (Entry e : shard.entries()) {
                    weightMap.put(e.name(), shard.fileName());
                }
            }
            if (sharded) {
                ShardIndexWriter.write(dir.resolve(CheckpointLayout.INDEX_FILE_NAME + STAGED), tensorBytes, weightMap);
            }
            for (Map.Entry<String, String> e : extra.entrySet()) {
                Files.writeString(dir.resolve(e.getKey() + STAGED), e.getValue());
            }
            // The extra files and the index first (the index then names shards still missing), the shards after.
            for (String name : names.reversed()) {
                Files.move(dir.resolve(name + STAGED), dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException | RuntimeException | Error e) {
            removeRun(dir, names, created);
            throw e;
        }
    }

    /**
     * Reuses the checkpoint already in {@code dir} when it is this spec's (every file present, valid and
     * stamped with the same spec), and generates it otherwise. Benchmarks call this so that several gigabytes
     * are written once, not on every run.
     */
    public static CheckpointSummary reuseOrGenerate(CheckpointSpec spec, Path dir) throws IOException {
        long start = System.nanoTime();
        CheckpointLayout layout = CheckpointLayout.of(spec);
        if (isPresent(spec, dir, layout)) {
            return summary(spec, dir, layout, false, System.nanoTime() - start);
        }
        return generate(spec, dir);
    }

    private static boolean isPresent(CheckpointSpec spec, Path dir, CheckpointLayout layout) {
        if (spec.sharded() && !Files.isRegularFile(dir.resolve(CheckpointLayout.INDEX_FILE_NAME))) {
            return false;
        }
        for (Shard shard : layout.shards()) {
            Path file = dir.resolve(shard.fileName());
            if (!Files.isRegularFile(file)) {
                return false;
            }
            try {
                Header header = HeaderParser.read(file);
                if (!spec.fileMetadata().equals(header.metadata())
                        || header.tensors().size() != shard.entries().size()) {
                    return false;
                }
            } catch (StloadException e) {
                return false;
            }
        }
        return true;
    }

    /**
     * The files an earlier run of this generator left in {@code dir} (the marker included), all of them this
     * generator's; empty for a directory that does not exist or is empty.
     *
     * @throws FileAlreadyExistsException if {@code dir} is not a directory, or holds anything else
     */
    private static List<Path> earlierOutput(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return List.of();
        }
        if (!Files.isDirectory(dir)) {
            throw new FileAlreadyExistsException(dir.toString(), null,
                    "exists and is not a directory; name a new or empty directory");
        }
        Set<String> listed = listedInMarker(dir.resolve(MARKER));
        List<Path> own = new ArrayList<>();
        List<String> others = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String name = f.getFileName().toString();
                Matcher m = OWN_TEMPORARY.matcher(name);
                // The marker staged, too: a run killed while it wrote the marker left nothing else.
                boolean ours = Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS) && m.matches()
                        && (m.group(1).equals(MARKER) || listed.contains(m.group(1)));
                if (ours) {
                    own.add(f);
                } else if (!name.equals("lost+found")) { // a file system's own, at its root
                    others.add(name);
                }
            }
        }
        if (!others.isEmpty()) {
            throw new FileAlreadyExistsException(dir.toString(), null, "holds files gen did not write ("
                    + String.join(", ", others.subList(0, Math.min(3, others.size())))
                    + (others.size() > 3 ? ", ..." : "") + "); name a new or empty directory");
        }
        return own;
    }

    /** The names of ours a marker lists; none when there is no marker (or anything else under its name). */
    private static Set<String> listedInMarker(Path marker) throws IOException {
        if (!Files.isRegularFile(marker, LinkOption.NOFOLLOW_LINKS) || Files.size(marker) > 1 << 20) {
            return Set.of();
        }
        List<String> lines = Files.readAllLines(marker);
        if (lines.isEmpty() || !lines.getFirst().equals(MARKER_FIRST_LINE)) {
            return Set.of();
        }
        Set<String> names = new HashSet<>();
        lines.stream().filter(l -> OWN_NAME.matcher(l).matches()).forEach(names::add);
        return names;
    }

    /** Deletes an earlier run's files: shards first, the index after them, the marker last. */
    private static void removeEarlierOutput(Path dir, List<Path> earlier) throws IOException {
        Comparator<Path> order = Comparator.comparingInt(f -> {
            String name = f.getFileName().toString();
            return name.equals(MARKER) ? 2 : name.equals(CheckpointLayout.INDEX_FILE_NAME) ? 1 : 0;
        });
        for (Path f : earlier.stream().sorted(order).toList()) {
            Files.deleteIfExists(f);
        }
    }

    /** Lists the files this run writes, before it writes any; replaced atomically. */
    private static void writeMarker(Path dir, List<String> names) throws IOException {
        Path staged = dir.resolve(MARKER + STAGED);
        Files.writeString(staged, MARKER_FIRST_LINE + "\n" + String.join("\n", names) + "\n");
        Files.move(staged, dir.resolve(MARKER), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Deletes what this run wrote (shards first, in place or staged, then the index and the marker), and the
     * directory itself when the run created it. Best effort: the failure that brought us here is the one to report.
     */
    private static void removeRun(Path dir, List<String> names, boolean created) {
        String tmp = ".tmp-" + ProcessHandle.current().pid();
        for (String name : names) {
            for (String suffix : List.of("", STAGED, STAGED + tmp)) {
                try {
                    Files.deleteIfExists(dir.resolve(name + suffix));
                } catch (IOException | RuntimeException e) {
                    // go on with the others
                }
            }
        }
        try {
            Files.deleteIfExists(dir.resolve(MARKER + STAGED));
            Files.deleteIfExists(dir.resolve(MARKER));
            if (created) {
                Files.deleteIfExists(dir);
            }
        } catch (IOException | RuntimeException e) {
            // best effort
        }
    }

    /** The tensors plus a generous allowance for headers and the index, less what the earlier run's files free. */
    private static void requireFreeSpace(Path dir, long tensorBytes, int shards, List<Path> earlier) throws IOException {
        long needed = tensorBytes + HEADER_ALLOWANCE * (shards + 1);
        Path existing = dir.toAbsolutePath();
        while (!Files.exists(existing) && existing.getParent() != null) {
            existing = existing.getParent();
        }
        long available = Files.getFileStore(existing).getUsableSpace();
        for (Path f : earlier) {
            available += Files.size(f);
        }
        if (needed > available) {
            throw new IOException("needs about " + needed + " bytes, but the filesystem holding " + dir + " has "
                    + available + " free for it");
        }
    }

    /** Checks that {@code spec} describes a checkpoint that can be laid out (a size too small for the shape is not). */
    public static void requireFeasible(CheckpointSpec spec) {
        CheckpointLayout.of(spec);
    }

    /**
     * Deletes the files a run of this process is writing in {@code dir} (staged, or a writer's {@code NAME.tmp-PID})
     * and, when it had begun renaming them into place, every file its marker lists, so that an interrupted run
     * leaves no half checkpoint and no gigabytes of half a shard behind. For a signal handler, should the writing
     * thread not unwind in time; best effort.
     */
    public static void deletePartialFiles(Path dir) {
        try {
            Set<String> listed = listedInMarker(dir.resolve(MARKER));
            if (listed.isEmpty()) {
                return;
            }
            removeRun(dir, List.copyOf(listed).stream().sorted(Comparator.comparing(
                    CheckpointLayout.INDEX_FILE_NAME::equals)).toList(), false);
        } catch (IOException | RuntimeException e) {
            // Best effort on the way out: the directory may be gone or unreadable.
        }
    }

    private static CheckpointSummary summary(CheckpointSpec spec, Path dir, CheckpointLayout layout,
                                             boolean generated, long nanos) throws IOException {
        List<Path> files = new ArrayList<>();
        long fileBytes = 0;
        for (Shard shard : layout.shards()) {
            Path file = dir.resolve(shard.fileName());
            files.add(file);
            fileBytes += Files.size(file);
        }
        Path index = spec.sharded() ? dir.resolve(CheckpointLayout.INDEX_FILE_NAME) : null;
        return new CheckpointSummary(dir, files, index, layout.dimensions(), layout.tensorCount(),
                layout.tensorBytes(), fileBytes, generated, Duration.ofNanos(nanos));
    }
}
