package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileIdentity;
import io.stload.nativeio.MappedFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A parsed and validated safetensors header: its tensor table sorted by offset (which tiles the data area
 * exactly), the optional {@code __metadata__} map, and where the data area starts in the file. Immutable and safe
 * to share between threads; it holds no file open.
 */
public final class Header {
    private final Path file;
    private final long fileSize;
    private final long headerLength;
    /** The {@code __metadata__} map; null when the header has none (an empty one is written back as one). */
    private final Map<String, String> metadata;
    private final List<TensorInfo> tensors;
    private final Map<String, TensorInfo> byName;
    /** The file the header was read from, for a local file; null for object storage (its ETag does this job). */
    private final FileIdentity identity;
    /** For a file in object storage, the version its store gave when it was opened (an ETag); else null. */
    private final String remoteVersion;

    Header(Path file, long fileSize, long headerLength, Map<String, String> metadata,
           List<TensorInfo> tensorsByOffset, Map<String, TensorInfo> byName) {
        this(file, fileSize, headerLength, metadata, tensorsByOffset, byName, null, null);
    }

    private Header(Path file, long fileSize, long headerLength, Map<String, String> metadata,
                   List<TensorInfo> tensorsByOffset, Map<String, TensorInfo> byName, FileIdentity identity,
                   String remoteVersion) {
        this.identity = identity;
        this.remoteVersion = remoteVersion;
        this.file = file;
        this.fileSize = fileSize;
        this.headerLength = headerLength;
        this.metadata = metadata == null ? null : Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableList(tensorsByOffset);
        this.byName = Collections.unmodifiableMap(byName);
    }

    /**
     * The same header under another name of the same file (a hard link, or a second path to one file): the
     * parsed table is shared, not copied, so a file reached by many names costs its table once.
     *
     * @param otherName another path to the very file this header was read from
     * @return a header equal to this one but for {@link #file()}; it maps and checks the same file, by its other name
     * @throws StloadException {@link ErrorKind#Usage} if {@code otherName} is null
     */
    public Header sharedAs(Path otherName) {
        StloadException.requireNonNull(otherName, "a header is shared under another path, not null");
        return new Header(otherName, fileSize, headerLength, metadata, tensors, byName, identity, remoteVersion);
    }

    /** The same header, of the local file {@code identity} describes. */
    Header identifiedAs(FileIdentity identity) {
        return new Header(file, fileSize, headerLength, metadata, tensors, byName, identity, null);
    }

    /** The same header, of a remote object at version {@code version} (null when its store gives none). */
    Header versionedAs(String version) {
        return new Header(file, fileSize, headerLength, metadata, tensors, byName, null, version);
    }

    /**
     * Which version of its file this header was read from, to tell whether two headers describe the same bytes: for
     * a local file, the file system's key for it (device and inode), its size and its modification time; for an
     * object in storage, the version its store gave when it was opened (an S3 ETag). Two headers with the same
     * version and file describe the same bytes at the same offsets, for as long as the file is not rewritten in place
     * within the resolution of its modification time.
     *
     * @return the version in words, or empty when the file's store gives none (or its file system no key)
     */
    public Optional<String> fileVersion() {
        if (identity != null) {
            if (identity.key() == null) {
                return Optional.empty(); // size and time alone cannot tell two files apart
            }
            return Optional.of(identity.key() + " " + identity.size() + " bytes modified at " + identity.modifiedNanos()
                    + " ns");
        }
        return Optional.ofNullable(remoteVersion);
    }

    /**
     * Maps the file this header was read from, whole and read-only; the one way the loader maps a checkpoint file.
     * Reading the mapping of a file truncated since faults: the loader reads its mappings only through its own
     * guarded copies.
     *
     * @param arena owns the mapping: closing it unmaps the file. A shared arena is best: its mapping is made where no
     *              interrupt can lose it, while the JDK loses one made in a confined arena by a thread interrupted
     *              part way (until the JVM exits)
     * @return the mapping
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Io} if the file cannot be mapped, or is no longer
     *         the file the header was read from (replaced under its name, resized, modified);
     *         {@link io.stload.ErrorKind#Usage} if {@code arena} is null, closed or confined to another thread
     */
    public MemorySegment map(Arena arena) {
        StloadException.requireNonNull(arena, "a mapping is owned by an arena, not null");
        if (identity == null) {
            throw StloadException.usage(file + " is not a local file: it cannot be mapped");
        }
        return MappedFile.map(file, identity, arena);
    }

    /**
     * Fails unless the path still names the file this header was read from; a header of a file in object storage
     * always passes (its reads check the object's ETag instead).
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Io} naming what changed
     */
    public void requireUnchanged() {
        if (identity != null) {
            identity.requireSame(file);
        }
    }

    /**
     * Fails if the file this header was read from was rewritten in place since (the path still names it, at another
     * size or modification time). A file replaced under its name passes: a mapping of the old one reads the old one.
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Io} naming what changed
     */
    public void requireNotRewritten() {
        if (identity != null) {
            identity.requireNotRewritten(file);
        }
    }

    /** {@return the file this header was read from} */
    public Path file() {
        return file;
    }

    /** {@return the file's size in bytes when the header was read} */
    public long fileSize() {
        return fileSize;
    }

    /** {@return N, the JSON header's length in bytes, as stored in the file's first 8 bytes} */
    public long headerLength() {
        return headerLength;
    }

    /** {@return the file offset of the data area: 8 + N} */
    public long dataStart() {
        return 8 + headerLength;
    }

    /** {@return the data area's length in bytes} */
    public long dataBytes() {
        return fileSize - dataStart();
    }

    /** {@return the unmodifiable {@code __metadata__} map; empty when the header has none} */
    public Map<String, String> metadata() {
        return metadata == null ? Map.of() : metadata;
    }

    /**
     * Whether the header has a {@code __metadata__} entry at all: an empty map written as {@code {}} and none are
     * the same to {@link #metadata()}, but not to a byte-exact copy of the header.
     *
     * @return true when the header holds {@code __metadata__}, even an empty one
     */
    public boolean hasMetadata() {
        return metadata != null;
    }

    /** {@return the tensors in data-area order, unmodifiable} */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /**
     * Returns a tensor's entry.
     *
     * @param name the tensor's name
     * @return its entry
     * @throws StloadException {@link ErrorKind#TensorNotFound}, naming this file, when it holds no such tensor;
     *         {@link ErrorKind#Usage} if {@code name} is null
     */
    public TensorInfo tensor(String name) {
        requireName(name);
        TensorInfo t = byName.get(name);
        if (t == null) {
            throw new StloadException(ErrorKind.TensorNotFound, file, "no tensor named `" + name + "` among its "
                    + tensors.size());
        }
        return t;
    }

    /**
     * Looks a tensor up without failing.
     *
     * @param name the tensor's name
     * @return its entry, or empty when this file holds none of that name
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} is null
     */
    public Optional<TensorInfo> find(String name) {
        requireName(name);
        return Optional.ofNullable(byName.get(name));
    }

    private static void requireName(String name) {
        StloadException.requireNonNull(name, "a tensor is looked up by its name, not null");
    }
}
