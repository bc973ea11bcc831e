package io.stload.plan;

import java.util.ArrayList;
import java.util.List;

/** Turns the slices a rank holds in one file into the few large reads that cover them. */
public final class ReadRanges {
    private ReadRanges() {
    }

    /**
     * The reads for slices given in file order: each slice's runs, neighbours merged across gaps of at most
     * {@code maxGap} bytes ({@link Thresholds#maxGapBytes()}).
     */
    public static List<ByteRange> of(List<TensorSlice> slicesInFileOrder, long maxGap) {
        List<ByteRange> merged = new ArrayList<>();
        for (TensorSlice s : slicesInFileOrder) {
            for (ByteRange r : s.reads(maxGap)) {
                int last = merged.size() - 1;
                if (last >= 0 && r.from() - merged.get(last).to() <= maxGap) {
                    merged.set(last, new ByteRange(merged.get(last).from(), Math.max(merged.get(last).to(), r.to())));
                } else {
                    merged.add(r);
                }
            }
        }
        return merged;
    }

    public static long bytes(List<ByteRange> ranges) {
        long sum = 0;
        for (ByteRange r : ranges) {
            sum += r.length();
        }
        return sum;
    }
}
