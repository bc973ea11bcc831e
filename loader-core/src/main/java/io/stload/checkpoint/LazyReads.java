package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.RangeSource;
import io.stload.format.SliceSpec;
import io.stload.format.Tensor;
import io.stload.nativeio.MappedFile;
import io.stload.nativeio.SharedArenas;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Reading a checkpoint's tensors lazily, Python's {@code safe_open}: a local file is mapped on its first read, once,
 * into one shared arena, and every mapping is unmapped together on {@link #close}; copies and slices read only their
 * own bytes, through the loader's guarded copy, so a file truncated meanwhile is an error, not a fault. A file in
 * object storage is never mapped: its bytes come by ranged GETs. Thread-safe.
 */
final class LazyReads implements AutoCloseable {
    private final RemoteFolder remote;
    private final Map<Header, String> names;
    private final Map<Header, MemorySegment> mapped = new IdentityHashMap<>();
    private Arena arena;
    private boolean closed;

    LazyReads(RemoteFolder remote, Map<Header, String> names) {
        this.remote = remote;
        this.names = names;
    }

    /** A read-only view of the tensor's bytes in its file's mapping; a remote tensor's is a copy. */
    MemorySegment view(TensorRef t) {
        if (remote != null) {
            return copy(t, SliceSpec.parse("", t.info()), Arena.ofAuto()).data().asReadOnly();
        }
        return mapping(t.file()).asSlice(t.fileOffset(), t.info().byteSize()).asReadOnly();
    }

    /**
     * The tensor over its view, for typed reads: a local file's is its mapping, whose reads turn a truncation into an
     * Io error; a remote tensor's is a copy.
     */
    Tensor viewTensor(TensorRef t) {
        if (remote != null) {
            return new Tensor(t.info(), view(t));
        }
        return Tensor.ofMapping(t.info(), view(t), t.file().file());
    }

    /** A copy of the slice, row-major, into memory from {@code allocator}; only the slice's bytes are read. */
    Tensor copy(TensorRef t, SliceSpec spec, SegmentAllocator allocator) {
        MemorySegment out = allocated(allocator, spec.byteSize());
        if (remote != null) {
            try (RangeSource source = remote.open(names.get(t.file()))) {
                RemoteSlice.read(source, t.fileOffset(), spec, out, remote.maxGapBytes());
            } catch (IOException e) {
                throw new StloadException(ErrorKind.Io, null, remote.location() + names.get(t.file()) + ": "
                        + e.getMessage(), e);
            }
        } else {
            MemorySegment view = view(t);
            try {
                MappedFile.reading(t.file().file(), () -> spec.copy(view, out));
            } catch (IllegalStateException e) {
                if (view.scope().isAlive() && out.scope().isAlive()) {
                    throw e;
                }
                throw StloadException.usage("the checkpoint, or the allocator's memory, was closed during the copy of "
                        + t.name());
            }
            // A file rewritten in place under the mapping (same size: no fault) gave other bytes: say so, as a load
            // does. One replaced under its name is not: the mapping still reads the file it mapped.
            t.file().requireNotRewritten();
        }
        return new Tensor(spec.local(), out);
    }

    /**
     * {@code bytes} from the caller's allocator, checked: an arena already closed or confined to another thread, and a
     * segment that is null, too small or read-only, are the caller's misuse (Usage); any other failure of the
     * allocator is its own (Callback). A larger segment is cut to the size. A null allocator never comes here: the
     * checkpoint refuses it before the slice is resolved.
     */
    private static MemorySegment allocated(SegmentAllocator allocator, long bytes) {
        MemorySegment out;
        try {
            out = allocator.allocate(bytes, 64);
        } catch (RuntimeException e) {
            // Only a closed or another thread's arena is misuse: an allocator of the caller's own may throw anything.
            if (e instanceof WrongThreadException
                    || e instanceof IllegalStateException && allocator instanceof Arena a && !a.scope().isAlive()) {
                throw new StloadException(ErrorKind.Usage, null, "the allocator cannot allocate here: "
                        + e.getMessage(), e);
            }
            throw StloadException.callback("the allocator failed", e);
        }
        if (out == null || out.byteSize() < bytes || out.isReadOnly() || !out.isAccessibleBy(Thread.currentThread())) {
            throw StloadException.usage("the allocator must return a writable segment of at least " + bytes
                    + " bytes that this thread may access, not " + (out == null ? "null" : out.byteSize()
                    + " bytes" + (out.isReadOnly() ? ", read-only" : "")));
        }
        return out.asSlice(0, bytes);
    }

    synchronized boolean isClosed() {
        return closed;
    }

    /** The whole file, mapped on first use; fails if the file is no longer the one its header was read from. */
    private synchronized MemorySegment mapping(Header file) {
        if (closed) {
            throw StloadException.usage("the checkpoint is closed");
        }
        MemorySegment m = mapped.get(file);
        if (m == null) {
            if (arena == null) {
                arena = Arena.ofShared();
            }
            m = file.map(arena);
            mapped.put(file, m);
        }
        return m;
    }

    /**
     * Unmaps every file, once no native operation holds a view; a view taken before is unusable after (accessing it
     * throws, never reads freed memory).
     */
    @Override
    public synchronized void close() {
        closed = true;
        if (arena != null) {
            SharedArenas.close(arena, "a view of this checkpoint");
            arena = null; // only once unmapped: a close that gave up leaves it for the next to retry
            mapped.clear();
        }
    }
}
