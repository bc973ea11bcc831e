package io.stload.cuda;

import io.stload.plan.ByteRange;
import java.util.ArrayList;
import java.util.List;

/**
 * What prefetch populates next: a file's plan ranges, front to back, in steps of at most {@code step} bytes,
 * each handed out once. The bytes between ranges (the gaps a plan skips, other ranks' slices) are never part
 * of a step, so a rank's prefetch pulls into the page cache only what it reads.
 */
final class PopulateSteps {
    private final List<ByteRange> ranges;
    private final long step;
    private int range;
    private long next;

    /** @param ranges sorted, disjoint */
    PopulateSteps(List<ByteRange> ranges, long step) {
        if (step <= 0) {
            throw new IllegalArgumentException("a populate step must be positive: " + step);
        }
        this.ranges = List.copyOf(ranges);
        this.step = step;
    }

    /** The steps not handed out yet that start before file offset {@code target}. */
    synchronized List<ByteRange> upTo(long target) {
        List<ByteRange> out = new ArrayList<>();
        while (range < ranges.size()) {
            ByteRange r = ranges.get(range);
            long start = Math.max(next, r.from());
            if (start >= r.to()) {
                range++;
            } else if (start >= target) {
                break;
            } else {
                next = Math.min(r.to(), start + step);
                out.add(new ByteRange(start, next));
            }
        }
        return out;
    }
}
