package io.stload.cuda;

import io.stload.plan.TensorSlice;
import java.util.List;

/**
 * The part of one slice that one chunk of its file holds, as copies. The slice is {@code count} runs of
 * {@code runBytes}, {@code stride} apart in the file ({@link TensorSlice}), packed end to end on the device.
 * The runs that lie wholly inside the chunk become one strided copy; a run cut by the chunk's start or end
 * becomes a plain copy of the part inside, so a run straddling windows arrives in parts at consecutive device
 * offsets. At most three pieces per slice and chunk, however many runs.
 */
final class RunPieces {
    private RunPieces() {
    }

    /**
     * Adds to {@code out} the pieces of {@code s} within file bytes {@code [chunkStart, chunkEnd)}, for a slice
     * placed at {@code deviceOffset}; window offsets are relative to {@code chunkStart}.
     */
    static void add(TensorSlice s, long deviceOffset, long chunkStart, long chunkEnd, List<StagingChunks.Piece> out) {
        long run = s.runBytes();
        // The first run ending after the chunk's start, and the last one starting before its end.
        long first = Math.max(0, Math.floorDiv(chunkStart - s.start() - run, s.stride()) + 1);
        long last = Math.min(s.count() - 1, Math.floorDiv(chunkEnd - 1 - s.start(), s.stride()));
        long k = first;
        if (k <= last && runStart(s, k) < chunkStart) {
            out.add(part(s, deviceOffset, k, chunkStart, Math.min(chunkEnd, runStart(s, k) + run), chunkStart));
            k++;
        }
        long lastWhole = last >= 0 && runStart(s, last) + run > chunkEnd ? last - 1 : last;
        if (lastWhole >= k) {
            out.add(new StagingChunks.Piece(runStart(s, k) - chunkStart, run, lastWhole - k + 1, s.stride(),
                    deviceOffset + k * run));
            k = lastWhole + 1;
        }
        if (k <= last) {
            out.add(part(s, deviceOffset, k, runStart(s, k), chunkEnd, chunkStart));
        }
    }

    private static long runStart(TensorSlice s, long k) {
        return s.start() + k * s.stride();
    }

    /** File bytes {@code [from, to)} of run {@code k}, as one row. */
    private static StagingChunks.Piece part(TensorSlice s, long deviceOffset, long k, long from, long to,
                                            long chunkStart) {
        return new StagingChunks.Piece(from - chunkStart, to - from, 1, to - from,
                deviceOffset + k * s.runBytes() + (from - runStart(s, k)));
    }
}
