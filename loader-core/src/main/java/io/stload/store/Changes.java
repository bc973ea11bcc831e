package io.stload.store;

import io.stload.format.Header;
import io.stload.format.TensorDigest;
import io.stload.plan.TensorSlice;
import io.stload.store.ReloadDelta.Reason;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which tensors of a new version must be read, and which carry over from the serving one, decided from the headers
 * alone: the recorded digests where both versions have one, else the files' versions and the tensors' offsets. A
 * tensor is carried over only when its bytes are known to be the same; anything unknown is read.
 *
 * @param reasons each tensor's reason, in the new version's order
 */
record Changes(Map<String, Reason> reasons) {

    /**
     * Compares every slice of the new version with the serving one of the same name (the layout check has made sure
     * both hold the same names, dtypes and shapes).
     *
     * @param serving       the serving version's slices
     * @param servingRemote whether the serving version was read from object storage
     * @param next          the new version's slices
     * @param nextRemote    whether the new version is read from object storage
     * @param everything    read every tensor, with this reason, without comparing; null to compare
     */
    static Changes decide(Map<String, TensorSlice> serving, boolean servingRemote, Map<String, TensorSlice> next,
                          boolean nextRemote, Reason everything) {
        Map<String, Reason> reasons = new LinkedHashMap<>();
        for (TensorSlice n : next.values()) {
            reasons.put(n.name(), everything != null ? everything
                    : compare(serving.get(n.name()), servingRemote, n, nextRemote));
        }
        return new Changes(reasons);
    }

    private static Reason compare(TensorSlice old, boolean oldRemote, TensorSlice next, boolean nextRemote) {
        if (!sameCut(old, next)) {
            return Reason.SLICE_CHANGED;
        }
        Optional<String> a = TensorDigest.of(old.tensor().file(), old.name());
        Optional<String> b = TensorDigest.of(next.tensor().file(), next.name());
        if (a.isPresent() && b.isPresent()) {
            return a.equals(b) ? Reason.SAME_DIGEST : Reason.DIGEST_CHANGED;
        }
        Header f = old.tensor().file();
        Header g = next.tensor().file();
        boolean sameVersion = f.fileVersion().isPresent() && f.fileVersion().equals(g.fileVersion());
        // A local file's version names the file itself (device and inode); an object's only its content at its key.
        boolean sameFile = sameVersion && oldRemote == nextRemote && (!oldRemote || f.file().equals(g.file()));
        boolean sameOffsets = f.dataStart() == g.dataStart() && old.tensor().info().begin() == next.tensor().info().begin()
                && old.tensor().info().end() == next.tensor().info().end();
        return sameFile && sameOffsets ? Reason.SAME_FILE : Reason.FILE_CHANGED;
    }

    /** The same part of the tensor: the same runs at the same places relative to its first byte. */
    private static boolean sameCut(TensorSlice a, TensorSlice b) {
        return a.dim() == b.dim() && a.tensor().info().byteSize() == b.tensor().info().byteSize()
                && relative(a).equals(relative(b));
    }

    /** A slice's parts with their file offsets taken from the tensor's first byte. */
    private static List<TensorSlice.Part> relative(TensorSlice s) {
        long first = s.tensor().fileOffset();
        return s.parts().stream().map(p -> new TensorSlice.Part(p.from(), p.to(), p.pad(), p.start() - first,
                p.runBytes(), p.stride(), p.count(), p.offset(), p.pitch(), p.padBytes())).toList();
    }

    /** {@return the tensors to read, in order} */
    List<String> read() {
        List<String> out = new ArrayList<>();
        reasons.forEach((name, r) -> {
            if (!r.carried()) {
                out.add(name);
            }
        });
        return out;
    }

    /** {@return whether {@code name} is carried over} */
    boolean carried(String name) {
        return reasons.get(name).carried();
    }

    /** The report of these decisions, with what the load of the tensors read moved and staged. */
    ReloadDelta delta(Map<String, TensorSlice> next, long bytesFromStorage, long stagedBytes) {
        int carried = 0;
        int read = 0;
        long carriedBytes = 0;
        long readBytes = 0;
        for (Map.Entry<String, Reason> e : reasons.entrySet()) {
            long bytes = next.get(e.getKey()).byteSize();
            if (e.getValue().carried()) {
                carried++;
                carriedBytes += bytes;
            } else {
                read++;
                readBytes += bytes;
            }
        }
        return new ReloadDelta(carried, carriedBytes, read, readBytes, bytesFromStorage, stagedBytes, reasons);
    }
}
