package io.stload.store;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Host memory for a subset of a checkpoint's slices (the tensors a reload reads), packed back to back in one region,
 * each placed where the engine's direct reads can land in it: a contiguous slice of a megabyte or more starts at the
 * same offset within a page as its bytes do within the file, so every aligned block inside it is read straight into
 * it (no bounce buffer, no copy); any other slice starts on a 64-byte boundary.
 */
final class PackedSlices {
    /** The least slice worth placing for reads in place; the {@code CallerBuffers} profile cuts windows at it. */
    private static final long IN_PLACE_BYTES = 1L << 20;
    private static final long PAGE = 4096;
    private static final long ALIGNMENT = 64;

    private final Map<String, Long> offsets = new HashMap<>();
    private final long bytes;

    PackedSlices(LoadPlan plan) {
        long at = 0;
        for (TensorSlice s : plan.slices().values()) {
            at = (at + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
            if (s.isContiguous() && s.byteSize() >= IN_PLACE_BYTES) {
                long want = Math.floorMod(s.spanStart(), PAGE);
                at += Math.floorMod(want - at, PAGE);
            }
            offsets.put(s.name(), at);
            at += s.byteSize();
        }
        this.bytes = at;
    }

    /** {@return the region's size} */
    long bytes() {
        return bytes;
    }

    /** Allocates the region in {@code arena} and cuts it into each slice's memory, by name. */
    Map<String, MemorySegment> allocate(LoadPlan plan, Arena arena, String what) {
        MemorySegment region;
        try {
            region = NativeAccess.get().allocate(Math.max(1, bytes), arena);
        } catch (IOException | OutOfMemoryError e) {
            throw new StloadException(ErrorKind.OutOfMemory, null, "cannot allocate " + bytes
                    + " bytes of host memory for " + what + ": " + e.getMessage());
        }
        Map<String, MemorySegment> at = new HashMap<>();
        for (TensorSlice s : plan.slices().values()) {
            at.put(s.name(), region.asSlice(offsets.get(s.name()), s.byteSize()));
        }
        return at;
    }
}
