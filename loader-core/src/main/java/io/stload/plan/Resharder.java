package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.ShardedWriter;
import io.stload.format.Header;
import io.stload.format.SafetensorsWriter.Entry;
import io.stload.format.TensorDigest;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/**
 * Pre-sliced checkpoints, one per rank: {@code OUT/rank-00000/}, {@code OUT/rank-00001/}, ... each a checkpoint
 * of its own holding exactly the tensors that rank holds under the partitioning, in their rank-local shapes
 * (the bytes {@link RankSlices} plans for that rank, laid end to end: fused parts concatenated, pad rows as zeros),
 * so a rank reads one contiguous file and
 * nothing else. A rank folder is a single {@code model.safetensors} unless a shard size cuts it into shards
 * with an index. The user metadata of the source's first file (less its tensor digests) is kept in every file, and
 * {@value #WORLD_FILE} at the root records the world size. {@code OUT} appears complete or not at all. A null
 * argument is a {@link ErrorKind#Usage} error.
 */
public final class Resharder {
    /**
     * The file at a resharded checkpoint's root that records its world size, {@code {"world_size": W}}: a rank finds
     * its folder by it, not by counting folders, as a copy may hold only some ranks' folders (one node's) or have
     * lost one.
     */
    public static final String WORLD_FILE = "reshard.json";
    private static final int MAX_WORLD_FILE_BYTES = 4096;
    private static final JsonFactory JSON = JsonFactory.builder().build();

    private Resharder() {
    }

    /**
     * Names a rank's folder under a resharded checkpoint's root.
     *
     * @param root the resharded checkpoint
     * @param rank the rank
     * @return {@code root/rank-NNNNN}
     */
    public static Path rankFolder(Path root, int rank) {
        StloadException.requireNonNull(root,
                "a rank's folder is named under the resharded checkpoint's root, not null");
        return root.resolve(String.format("rank-%05d", rank));
    }

    /**
     * Writes every rank's checkpoint under {@code out}, which appears complete or not at all.
     *
     * @param in            the open source checkpoint
     * @param out           the folder to create
     * @param partitioning  the world size and partition rules (its rank is not used)
     * @param maxShardBytes the largest shard, or {@code Long.MAX_VALUE} for one file per rank
     * @return the rank folders, by rank
     * @throws IOException if a file cannot be read or written
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if a rule cannot cut a tensor;
     *                                   {@link ErrorKind#Usage} if {@code out} exists and is not an empty folder
     */
    public static List<Path> reshard(Checkpoint in, Path out, Partitioning partitioning, long maxShardBytes)
            throws IOException {
        return reshard(in, out, partitioning, maxShardBytes, false);
    }

    /**
     * Writes every rank's checkpoint under {@code out}, which appears complete or not at all, optionally with each
     * tensor's SHA-256 in its shard's {@code __metadata__} ({@link io.stload.format.TensorDigest}), so that a reload
     * of the next resharded step reads only the slices that changed.
     *
     * @param in            the open source checkpoint
     * @param out           the folder to create
     * @param partitioning  the world size and partition rules (its rank is not used)
     * @param maxShardBytes the largest shard, or {@code Long.MAX_VALUE} for one file per rank
     * @param digests       whether to record each rank-local tensor's digest
     * @return the rank folders, by rank
     * @throws IOException if a file cannot be read or written
     * @throws io.stload.StloadException {@link ErrorKind#Unsupported} if a rule cannot cut a tensor;
     *                                   {@link ErrorKind#Usage} if {@code out} exists and is not an empty folder
     */
    public static List<Path> reshard(Checkpoint in, Path out, Partitioning partitioning, long maxShardBytes,
                                     boolean digests) throws IOException {
        StloadException.requireNonNull(out, "a resharded checkpoint is written to a folder, not null");
        RankSlices.Matched matched = RankSlices.match(in, partitioning);
        Map<String, String> metadata = userMetadata(in);
        try (OpenFiles channels = new OpenFiles()) {
            ShardedWriter.writeAtomically(out, tmp -> {
                for (int r = 0; r < partitioning.worldSize(); r++) {
                    Map<String, TensorSlice> slices = matched.slices(r);
                    List<Entry> entries = slices.values().stream()
                            .map(s -> new Entry(s.local().name(), s.local().dtype(), s.local().shape().toArray())).toList();
                    ShardedWriter.write(rankFolder(tmp, r), metadata, entries,
                            (e, to) -> copy(slices.get(e.name()), channels.get(slices.get(e.name()).tensor().file()),
                                    to), maxShardBytes, digests);
                }
                Files.writeString(tmp.resolve(WORLD_FILE), "{\"world_size\": " + partitioning.worldSize() + "}\n");
                // As a load checks at its end: a source rewritten meanwhile may have given bytes of two versions.
                in.files().forEach(Header::requireUnchanged);
            });
        }
        List<Path> folders = new ArrayList<>();
        for (int r = 0; r < partitioning.worldSize(); r++) {
            folders.add(rankFolder(out, r));
        }
        return folders;
    }

    /**
     * The source's first file's metadata, less any tensor digests: those describe the source's files, not the rank
     * files written from them (which record their own when asked).
     */
    private static Map<String, String> userMetadata(Checkpoint in) {
        if (in.files().isEmpty() || !in.files().getFirst().hasMetadata()) {
            return null;
        }
        Map<String, String> kept = new LinkedHashMap<>(in.files().getFirst().metadata());
        kept.keySet().removeIf(k -> k.startsWith(TensorDigest.KEY_PREFIX));
        return kept;
    }

    /**
     * The source files, opened as tensors need them and closed least recently used first, so that at most
     * {@link #MAX_OPEN_FILES} are open whatever the number of shards (a process may open only so many).
     */
    private static final class OpenFiles implements AutoCloseable {
        private final Map<Header, FileChannel> open = new LinkedHashMap<>(16, 0.75f, true);

        FileChannel get(Header file) throws IOException {
            FileChannel ch = open.get(file);
            if (ch == null) {
                if (open.size() >= MAX_OPEN_FILES) {
                    Map.Entry<Header, FileChannel> eldest = open.entrySet().iterator().next();
                    open.remove(eldest.getKey());
                    eldest.getValue().close();
                }
                ch = FileChannel.open(file.file(), StandardOpenOption.READ);
                open.put(file, ch);
                file.requireUnchanged(); // open: the file read from here on is the one its header came from
            }
            return ch;
        }

        @Override
        public void close() throws IOException {
            IOException failed = null;
            for (FileChannel ch : open.values()) {
                try {
                    ch.close();
                } catch (IOException e) {
                    failed = failed == null ? e : failed;
                }
            }
            open.clear();
            if (failed != null) {
                throw failed;
            }
        }
    }

    /** The most source files open at once, as a load keeps at most this many open or mapped. */
    static final int MAX_OPEN_FILES = 64;

    /**
     * The slice's runs in the order they lie in the rank-local tensor (for each outer index, each part's run and its
     * pad zeros): its bytes.
     */
    private static void copy(TensorSlice s, FileChannel from, WritableByteChannel to) throws IOException {
        long rows = s.parts().getFirst().count();
        for (long k = 0; k < rows; k++) {
            for (TensorSlice.Part p : s.parts()) {
                long at = p.start() + k * p.stride();
                long end = at + p.runBytes();
                while (at < end) {
                    long n = from.transferTo(at, end - at, to);
                    if (n <= 0) {
                        throw new IOException(s.tensor().file().file() + ": ended before byte " + end);
                    }
                    at += n;
                }
                writeZeros(p.padBytes(), to);
            }
        }
    }

    private static void writeZeros(long bytes, WritableByteChannel to) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(bytes, 1 << 16));
        for (long left = bytes; left > 0; ) {
            zeros.clear().limit((int) Math.min(left, zeros.capacity()));
            while (zeros.hasRemaining()) {
                left -= to.write(zeros);
            }
        }
    }

    /**
     * The folder rank {@code rank} of {@code worldSize} reads when {@code path} is a resharded checkpoint's root
     * (it holds {@value #WORLD_FILE}), or empty when it is not one.
     *
     * @param path      a checkpoint path
     * @param rank      the rank to read
     * @param worldSize the number of ranks
     * @return the rank's folder, or empty
     * @throws StloadException Usage when it was resharded for another world size, the rank is outside it, or
     *                         {@code path} is null; MissingShard when the rank's folder is not there; InvalidIndex
     *                         when the record of the world size is not one, or rank folders stand without it; Io
     *                         when it cannot be read
     */
    public static Optional<Path> rankFolder(Path path, int rank, int worldSize) {
        StloadException.requireNonNull(path, "a rank's folder is looked for under a checkpoint path, not null");
        Path record = path.resolve(WORLD_FILE);
        if (!Files.exists(record)) {
            if (Files.isDirectory(rankFolder(path, 0))) {
                throw new StloadException(ErrorKind.InvalidIndex, path, "holds rank folders but no " + WORLD_FILE
                        + " recording how many ranks they were written for; load one rank's folder itself, or "
                        + "reshard again");
            }
            return Optional.empty();
        }
        int written = recordedWorldSize(record);
        if (written != worldSize) {
            throw new StloadException(ErrorKind.Usage, path, "resharded for a world size of " + written + ", not "
                    + worldSize + ": load it with world size " + written + " and a rank in 0.." + (written - 1));
        }
        if (rank < 0 || rank >= worldSize) {
            throw new StloadException(ErrorKind.Usage, path, "rank " + rank + " is not in 0.." + (worldSize - 1));
        }
        Path folder = rankFolder(path, rank);
        if (!Files.isDirectory(folder)) {
            throw new StloadException(ErrorKind.MissingShard, folder, "rank " + rank + "'s folder is missing from this "
                    + "checkpoint, resharded for " + written + " ranks");
        }
        return Optional.of(folder);
    }

    private static int recordedWorldSize(Path record) {
        byte[] bytes;
        try {
            if (FileChecks.requireRegularFile(record).size() > MAX_WORLD_FILE_BYTES) {
                throw notARecord(record);
            }
            bytes = Files.readAllBytes(record);
        } catch (IOException e) {
            throw FileChecks.failure(record, "cannot read", e);
        }
        long worldSize = 0;
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), new String(bytes, StandardCharsets.UTF_8))) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw notARecord(record);
            }
            String name;
            while ((name = p.nextName()) != null) {
                JsonToken value = p.nextToken();
                if (name.equals("world_size") && value == JsonToken.VALUE_NUMBER_INT
                        && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER) {
                    worldSize = p.getLongValue();
                } else {
                    p.skipChildren();
                }
            }
            if (p.nextToken() != null) {
                throw notARecord(record);
            }
        } catch (JacksonException e) {
            throw notARecord(record);
        }
        if (worldSize < 1 || worldSize > Integer.MAX_VALUE) {
            throw notARecord(record);
        }
        return (int) worldSize;
    }

    private static StloadException notARecord(Path record) {
        return new StloadException(ErrorKind.InvalidIndex, record, "not the record of a reshard, {\"world_size\": W}"
                + " with W at least 1");
    }
}
