package io.stload.io;

import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import io.stload.sink.FileDestination;
import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code direct}: O_DIRECT reads of large aligned blocks, several in flight, straight into the destination
 * (which mirrors the file's aligned layout, so no bounce buffer and no copy), bypassing the page cache.
 * Unaligned tensor edges are covered by reading the whole aligned block around them. Where the filesystem
 * refuses O_DIRECT (tmpfs does), the same blocks are read with buffered pread, and the report says so.
 */
final class DirectReader extends WindowedReader {
    private final List<NativeFile> handles = new ArrayList<>();
    private final Map<Header, FileDestination> destinations;
    private final Map<Header, String> notes = new IdentityHashMap<>();

    DirectReader(NativeAccess os, List<Header> files, Map<Header, FileDestination> destinations,
                 List<TensorRef> tensors, long blockBytes, int ioThreads, IoStats stats) throws IOException {
        super(files, ioThreads, stats);
        this.destinations = destinations;
        List<WindowLayout.Range> ranges = new ArrayList<>();
        try {
            for (Header h : files) {
                FileDestination d = destinations.get(h);
                NativeFile f = os.open(h.file(), true);
                if (f.isDirect() && (d.from() % f.directAlignment() != 0 || blockBytes % f.directAlignment() != 0)) {
                    notes.put(h, "O_DIRECT needs " + f.directAlignment() + "-byte alignment here: buffered reads");
                    f.close();
                    f = os.open(h.file(), false);
                } else if (!f.isDirect()) {
                    notes.put(h, os.isNative() ? "O_DIRECT refused by this filesystem: buffered reads"
                            : "no native access (" + os.fallbackReason() + "): buffered reads");
                }
                handles.add(f);
                ranges.add(new WindowLayout.Range(d.from(), d.from() + d.memory().byteSize()));
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        layOut(ranges, blockBytes, Long.MAX_VALUE, tensors);
    }

    @Override
    protected void transfer(Header file, Window w) throws IOException {
        NativeFile f = handles.get(w.file());
        long n = f.read(destinations.get(file).slice(w.offset(), w.length()), w.offset());
        stats.bytesRead.add(n);
        if (n < w.length() && w.offset() + n < file.fileSize()) {
            throw new IOException(file.file() + ": short read at offset " + (w.offset() + n)
                    + " (file truncated during the load?)");
        }
    }

    @Override
    protected void finish(TensorRef t) {
        // The blocks were read in place: nothing left to copy.
    }

    @Override
    public Map<Header, String> notes() {
        return Map.copyOf(notes);
    }

    @Override
    public void close() throws IOException {
        abort(new IOException("load closed"));
        IOException first = null;
        for (NativeFile f : handles) {
            try {
                f.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
