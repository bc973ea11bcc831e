package io.stload.cuda;

import io.stload.checkpoint.TensorRef;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Cuts each file's data area into window-sized chunks, front to back, and says which bytes of each chunk go
 * where on the device. A tensor larger than a window spans several chunks and streams through in pieces; a
 * window may hold many small tensors. Chunks start at 4 KiB-aligned file offsets so that direct reads may land
 * in them as they are.
 */
final class StagingChunks {
    static final long FILE_ALIGNMENT = 4096;

    /** Bytes {@code [windowOffset, windowOffset + length)} of the window go to device offset {@code deviceOffset}. */
    record Piece(long windowOffset, long length, long deviceOffset) {
    }

    /** File bytes {@code [offset, offset + length)} of {@code source}, and where their tensor bytes go. */
    record Chunk(FileSource source, long offset, long length, List<Piece> pieces) {
    }

    private StagingChunks() {
    }

    /** The chunks of one file, in file order, for windows of {@code windowBytes}. */
    static List<Chunk> of(FileSource source, List<TensorRef> tensors, DeviceLayout layout, long windowBytes) {
        List<TensorRef> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(TensorRef::fileOffset));
        long from = source.file().dataStart() / FILE_ALIGNMENT * FILE_ALIGNMENT;
        long to = source.file().fileSize();
        List<Chunk> chunks = new ArrayList<>();
        int first = 0;
        for (long start = from; start < to; start += windowBytes) {
            long end = Math.min(to, start + windowBytes);
            List<Piece> pieces = new ArrayList<>();
            while (first < byOffset.size() && tensorEnd(byOffset.get(first)) <= start) {
                first++;
            }
            for (int i = first; i < byOffset.size() && byOffset.get(i).fileOffset() < end; i++) {
                TensorRef t = byOffset.get(i);
                long s = Math.max(start, t.fileOffset());
                long e = Math.min(end, tensorEnd(t));
                if (e > s) {
                    pieces.add(new Piece(s - start, e - s, layout.offset(t) + (s - t.fileOffset())));
                }
            }
            if (!pieces.isEmpty()) {
                chunks.add(new Chunk(source, start, end - start, pieces));
            }
        }
        return chunks;
    }

    private static long tensorEnd(TensorRef t) {
        return t.fileOffset() + t.info().byteSize();
    }
}
