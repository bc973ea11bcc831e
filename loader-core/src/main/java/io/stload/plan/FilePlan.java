package io.stload.plan;

import io.stload.StloadException;
import io.stload.format.Header;
import java.util.List;

/**
 * One file of a plan: what was measured, the strategy chosen with its reasons, and the byte ranges this
 * rank reads from it (its slices' runs, merged across small gaps; sorted, disjoint).
 *
 * @param file     the file's header
 * @param facts    what was measured about it
 * @param decision the strategy chosen and why
 * @param reads    the byte ranges this rank reads, sorted and disjoint; copied
 */
public record FilePlan(Header file, FileFacts facts, FileDecision decision, List<ByteRange> reads) {
    /**
     * Copies the reads.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if any component is null, or the reads are not sorted,
     *                         disjoint and inside the file
     */
    public FilePlan {
        if (file == null || facts == null || decision == null || reads == null) {
            throw StloadException.usage("a file's plan needs its header, facts, decision and reads, not null");
        }
        reads = List.copyOf(reads);
        long end = 0;
        for (ByteRange r : reads) {
            if (r.from() < end || r.to() > file.fileSize()) {
                throw StloadException.usage(file.file() + ": a file's reads are sorted, disjoint and inside its "
                        + file.fileSize() + " bytes, which " + r + " is not");
            }
            end = r.to();
        }
    }

    /** Whether these reads hold every file byte of {@code p}: each of its runs lies in reads that join. */
    boolean holds(TensorSlice.Part p) {
        if (p.fileBytes() == 0 || holds(p.start(), p.fileEnd())) {
            return true; // no bytes, or one span of reads holds every run
        }
        for (long k = 0; k < p.count(); k++) {
            long from = p.start() + k * p.stride();
            if (!holds(from, from + p.runBytes())) {
                return false;
            }
        }
        return true;
    }

    private boolean holds(long from, long to) {
        int lo = 0;
        int hi = reads.size() - 1;
        int at = -1;
        while (lo <= hi) { // the last read that starts at or before `from`
            int mid = (lo + hi) >>> 1;
            if (reads.get(mid).from() <= from) {
                at = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (at < 0) {
            return false;
        }
        long covered = reads.get(at).to();
        while (covered < to && at + 1 < reads.size() && reads.get(at + 1).from() == covered) {
            covered = reads.get(++at).to();
        }
        return covered >= to;
    }

    /** {@return the strategy chosen for this file} */
    public LoadStrategy strategy() {
        return decision.strategy();
    }

    /** {@return the rule that chose it} */
    public DecisionRule rule() {
        return decision.rule();
    }
}
