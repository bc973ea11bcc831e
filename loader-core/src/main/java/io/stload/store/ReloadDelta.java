package io.stload.store;

import io.stload.StloadException;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a reload read and what it carried over from the serving version, tensor by tensor, and why. A tensor carried
 * over is shared with the serving version (beside) or left where it is (in place); one read is loaded from the new
 * checkpoint.
 *
 * @param tensorsCarried   tensors carried over
 * @param bytesCarried     their bytes (for a tensor-parallel rank, its slices' bytes)
 * @param tensorsRead      tensors read from the new checkpoint
 * @param bytesRead        their bytes
 * @param bytesFromStorage bytes the readers moved from the files to read them (whole direct blocks, small gaps read
 *                         through): the load report's count
 * @param stagedBytes      in place: host memory the read bytes were staged in before being written over the serving
 *                         ones; 0 when they were written straight from the files, or beside
 * @param reasons          each tensor's reason, by name, in checkpoint order
 */
public record ReloadDelta(int tensorsCarried, long bytesCarried, int tensorsRead, long bytesRead, long bytesFromStorage,
                          long stagedBytes, Map<String, Reason> reasons) {
    /** Nothing compared yet: a reload that stopped before looking at the new checkpoint's tensors. */
    public static final ReloadDelta NONE = new ReloadDelta(0, 0, 0, 0, 0, 0, Map.of());

    /** Why a tensor was carried over or read. */
    public enum Reason {
        /** Carried: both versions record the same digest for it. */
        SAME_DIGEST(true),
        /** Carried: no digest to compare, but it lies at the same offsets of the same version of the same file. */
        SAME_FILE(true),
        /** Read: the digests differ. */
        DIGEST_CHANGED(false),
        /** Read: no digest on both sides, and its file (or its place in it) is another. */
        FILE_CHANGED(false),
        /** Read: the rank's slice of it is another (another rank, world size or partition rule). */
        SLICE_CHANGED(false),
        /** Read: the reload asked for every tensor ({@link ReloadOptions.CarryOver#NONE}). */
        CARRY_OVER_OFF(false),
        /** Read: a reload in place failed part way before, so no serving byte can be trusted. */
        STORE_FAILED(false);

        private final boolean carried;

        Reason(boolean carried) {
            this.carried = carried;
        }

        /** {@return true when a tensor with this reason is carried over, not read} */
        public boolean carried() {
            return carried;
        }
    }

    /**
     * Copies the map into an unmodifiable one, in its order.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code reasons} is null
     */
    public ReloadDelta {
        StloadException.requireNonNull(reasons, "a reload's delta gives each tensor's reason, not null");
        reasons = Collections.unmodifiableMap(new LinkedHashMap<>(reasons));
    }

    /** {@return how many tensors had each reason; reasons no tensor had are absent} */
    public Map<Reason, Integer> tensorsByReason() {
        Map<Reason, Integer> counts = new EnumMap<>(Reason.class);
        reasons.values().forEach(r -> counts.merge(r, 1, Integer::sum));
        return counts;
    }

    /** {@return the share of the tensor bytes that were read, 0 to 1; 0 when there are none} */
    public double readShare() {
        long all = bytesCarried + bytesRead;
        return all == 0 ? 0 : (double) bytesRead / all;
    }
}
