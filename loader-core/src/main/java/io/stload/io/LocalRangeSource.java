package io.stload.io;

import io.stload.format.Header;
import io.stload.format.RangeSource;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A local checkpoint file read by position: with O_DIRECT where the filesystem grants it and its alignment
 * fits the engine's blocks, else buffered pread; {@link #note()} says which and why. The one place O_DIRECT
 * is negotiated. A file whose pages are in memory is read buffered by choice ({@link #buffered}).
 */
record LocalRangeSource(Header header, NativeFile file, long alignment, String note) implements RangeSource {
    /** Opens {@code h} for reads of whole blocks of {@code blockBytes} into page-aligned memory. */
    static LocalRangeSource open(NativeAccess os, Header h, long blockBytes) throws IOException {
        NativeFile f = openUnchanged(os, h, true);
        long page = os.pageSize();
        if (f.isDirect() && !(f.directAlignsTo(page) && f.directAlignsTo(blockBytes))) {
            int needs = f.directAlignment();
            f.close();
            return new LocalRangeSource(h, os.open(h.file(), false), 1,
                    "O_DIRECT needs " + needs + "-byte alignment here: buffered reads");
        }
        if (!f.isDirect()) {
            return new LocalRangeSource(h, f, 1, os.isNative() ? "O_DIRECT refused by this filesystem: buffered reads"
                    : "no native access (" + os.fallbackReason() + "): buffered reads");
        }
        return new LocalRangeSource(h, f, page, null);
    }

    /**
     * Opens {@code h} for buffered positional reads, whatever the filesystem grants: the kernel copies the pages out
     * of the page cache, for a file whose pages are already in memory.
     */
    static LocalRangeSource buffered(NativeAccess os, Header h) throws IOException {
        return new LocalRangeSource(h, openUnchanged(os, h, false), 1, null);
    }

    private static NativeFile openUnchanged(NativeAccess os, Header h, boolean direct) throws IOException {
        NativeFile f = os.open(h.file(), direct);
        try {
            // Checked once open: a file replaced after this is not the one read, and the load's end checks again.
            h.requireUnchanged();
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
        return f;
    }

    @Override
    public String name() {
        return header.file().toString();
    }

    @Override
    public long size() {
        return header.fileSize();
    }

    /**
     * Fills {@code destination} with the file's bytes from {@code offset}; an aligned read of the last block
     * may ask for bytes past the end of the file, which are not there: that part of the destination is left
     * as it was.
     */
    @Override
    public void read(long offset, MemorySegment destination) throws IOException {
        long expected = Math.min(destination.byteSize(), size() - offset);
        long n = file.read(destination, offset);
        if (n < expected) {
            throw new IOException("short read at offset " + (offset + n) + " (file truncated during the load?)");
        }
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
