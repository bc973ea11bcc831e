package io.stload.cuda;

import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * {@code direct}: O_DIRECT reads straight into the page-locked window, no bounce buffer. O_DIRECT needs the
 * file offset, the length and the memory address aligned: windows are page-aligned and a multiple of 4 KiB,
 * reads cover the plan's ranges widened to 4 KiB-aligned blocks, and the last read of a file is rounded up to
 * a whole block (the bytes past the end of the file are simply not there). Only the slice bytes of a window
 * are copied to the device. Where the filesystem refuses O_DIRECT (tmpfs does), the plan's ranges are read
 * as they are, buffered.
 */
final class DirectSource implements FileSource {
    private final Header file;
    private final NativeFile handle;
    private final String note;

    DirectSource(Header file, NativeAccess os) throws IOException {
        this.file = file;
        NativeFile f = os.open(file.file(), true);
        String why = null;
        if (f.isDirect() && (f.directAlignment() > StagingChunks.FILE_ALIGNMENT
                || StagingChunks.FILE_ALIGNMENT % f.directAlignment() != 0)) {
            why = "O_DIRECT needs " + f.directAlignment() + "-byte alignment here: buffered reads";
            f.close();
            f = os.open(file.file(), false);
        } else if (!f.isDirect()) {
            why = os.isNative() ? "O_DIRECT refused by this filesystem: buffered reads"
                    : "no native access (" + os.fallbackReason() + "): buffered reads";
        }
        this.handle = f;
        this.note = why;
    }

    @Override
    public Header file() {
        return file;
    }

    @Override
    public long alignment() {
        return handle.isDirect() ? StagingChunks.FILE_ALIGNMENT : 1;
    }

    @Override
    public void fill(long offset, long length, MemorySegment window) throws IOException {
        long blocks = (length + alignment() - 1) / alignment() * alignment();
        long n = handle.read(window.asSlice(0, blocks), offset);
        if (n < length) {
            throw new IOException(file.file() + ": short read at offset " + (offset + n)
                    + " (file truncated during the load?)");
        }
    }

    @Override
    public String note() {
        return note;
    }

    @Override
    public void close() throws IOException {
        handle.close();
    }
}
