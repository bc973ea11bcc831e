package io.stload.plan;

import io.stload.StloadException;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the slices a rank holds in one file into the few large reads that cover them. A null argument is a
 * {@link io.stload.ErrorKind#Usage} error.
 */
public final class ReadRanges {
    private ReadRanges() {
    }

    /**
     * Plans the reads for slices of one file: each slice's runs, neighbours merged across gaps of at most
     * {@code maxGap} bytes ({@link Thresholds#maxGapBytes()}).
     *
     * @param slicesInFileOrder the slices, in file order
     * @param maxGap            the largest gap read through
     * @return sorted, disjoint ranges
     */
    public static List<ByteRange> of(List<TensorSlice> slicesInFileOrder, long maxGap) {
        StloadException.requireNonNull(slicesInFileOrder, "reads are planned for a list of slices, not null");
        List<ByteRange> merged = new ArrayList<>();
        for (TensorSlice s : slicesInFileOrder) {
            for (ByteRange r : s.reads(maxGap)) {
                append(merged, r, maxGap);
            }
        }
        return merged;
    }

    /**
     * Adds {@code r} to the end of sorted, disjoint ranges, merged into the last one when at most {@code maxGap} bytes
     * lie between them.
     */
    static void append(List<ByteRange> ranges, ByteRange r, long maxGap) {
        int last = ranges.size() - 1;
        if (last >= 0 && r.from() - ranges.get(last).to() <= maxGap) {
            ranges.set(last, new ByteRange(ranges.get(last).from(), Math.max(ranges.get(last).to(), r.to())));
        } else {
            ranges.add(r);
        }
    }

    /**
     * Widens ranges to whole blocks, merging where widening made them touch: what a reader with an alignment rule,
     * O_DIRECT's, must read.
     *
     * @param sortedReads sorted, disjoint ranges
     * @param alignment   the block size
     * @param limit       no range ends after this offset (the file's size)
     * @return sorted, disjoint, aligned ranges
     */
    public static List<ByteRange> aligned(List<ByteRange> sortedReads, long alignment, long limit) {
        requireRanges(sortedReads);
        List<ByteRange> out = new ArrayList<>();
        for (ByteRange r : sortedReads) {
            long from = r.from() / alignment * alignment;
            long to = Math.min(limit, (r.to() + alignment - 1) / alignment * alignment);
            append(out, new ByteRange(from, to), 0);
        }
        return out;
    }

    /**
     * Splits ranges at the given offsets, so that no range crosses one.
     *
     * @param sortedRanges sorted, disjoint ranges
     * @param sortedCuts   offsets, ascending
     * @return the same bytes as {@code sortedRanges}, in ranges that start or end at each cut they contained
     */
    public static List<ByteRange> cutAt(List<ByteRange> sortedRanges, long[] sortedCuts) {
        requireRanges(sortedRanges);
        StloadException.requireNonNull(sortedCuts, "ranges are cut at an array of offsets, empty for none, not null");
        List<ByteRange> out = new ArrayList<>();
        int c = 0;
        for (ByteRange r : sortedRanges) {
            long from = r.from();
            for (; c < sortedCuts.length && sortedCuts[c] < r.to(); c++) {
                if (sortedCuts[c] > from) {
                    out.add(new ByteRange(from, sortedCuts[c]));
                    from = sortedCuts[c];
                }
            }
            out.add(new ByteRange(from, r.to()));
        }
        return out;
    }

    /**
     * Sums range lengths.
     *
     * @param ranges the ranges
     * @return their total length in bytes
     */
    public static long bytes(List<ByteRange> ranges) {
        requireRanges(ranges);
        long sum = 0;
        for (ByteRange r : ranges) {
            sum += r.length();
        }
        return sum;
    }

    private static void requireRanges(List<ByteRange> ranges) {
        StloadException.requireNonNull(ranges, "byte ranges are a list, not null");
    }
}
