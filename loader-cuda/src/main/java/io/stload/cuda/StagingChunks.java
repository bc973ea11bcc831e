package io.stload.cuda;

import io.stload.plan.ByteRange;
import io.stload.plan.ReadRanges;
import io.stload.plan.TensorSlice;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Cuts the byte ranges a plan reads from one file into window-sized chunks, front to back, and says which
 * bytes of each chunk go where on the device. A slice larger than a window spans several chunks and streams
 * through in pieces; a window may hold runs of many slices. Each chunk is read whole, gaps the plan reads
 * through included, so a load reads exactly the plan's ranges, widened for direct reads to the source's
 * alignment.
 */
final class StagingChunks {
    /** The alignment direct reads get here: staging windows are page-aligned and a multiple of it. */
    static final long FILE_ALIGNMENT = 4096;

    /**
     * {@code rows} rows of {@code width} bytes, {@code pitch} apart from window offset {@code windowOffset}, go to
     * consecutive device bytes from {@code deviceOffset}.
     */
    record Piece(long windowOffset, long width, long rows, long pitch, long deviceOffset) {
        /** Window bytes from the first row's start to the last row's end. */
        long span() {
            return (rows - 1) * pitch + width;
        }

        long bytes() {
            return width * rows;
        }
    }

    /** File bytes {@code [offset, offset + length)} of {@code source}, and where their slice bytes go. */
    record Chunk(FileSource source, long offset, long length, List<Piece> pieces) {
    }

    private StagingChunks() {
    }

    /**
     * The chunks of one file, in file order, for windows of {@code windowBytes} (a multiple of the source's
     * alignment).
     *
     * @param reads  the plan's ranges for this file: sorted, disjoint
     * @param slices the rank's slices in this file, any order
     */
    static List<Chunk> of(FileSource source, List<ByteRange> reads, List<TensorSlice> slices, DeviceLayout layout,
                          long windowBytes) {
        List<TensorSlice> byStart = new ArrayList<>(slices.stream().filter(s -> s.byteSize() > 0).toList());
        byStart.sort(Comparator.comparingLong(TensorSlice::spanStart));
        List<Chunk> chunks = new ArrayList<>();
        int first = 0;
        for (ByteRange r : ReadRanges.aligned(reads, source.alignment(), source.file().fileSize())) {
            for (long start = r.from(); start < r.to(); start += windowBytes) {
                long end = Math.min(r.to(), start + windowBytes);
                // Slices are disjoint, so sorted by start their span ends are sorted too.
                while (first < byStart.size() && byStart.get(first).spanEnd() <= start) {
                    first++;
                }
                List<Piece> pieces = new ArrayList<>();
                for (int i = first; i < byStart.size() && byStart.get(i).spanStart() < end; i++) {
                    TensorSlice s = byStart.get(i);
                    RunPieces.add(s, layout.offset(s), start, end, pieces);
                }
                chunks.add(new Chunk(source, start, end - start, pieces));
            }
        }
        return chunks;
    }
}
