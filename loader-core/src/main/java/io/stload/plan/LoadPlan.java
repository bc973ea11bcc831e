package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The decision, as data: for this rank, the slice of every tensor it holds and the byte ranges it reads, a
 * strategy per file with its reasons and inputs, and the order in which the consumer will ask for tensors.
 * {@code plan} prints it; {@code load} executes it.
 *
 * <p>A plan holds no file open; it borrows its checkpoint, which must stay open while the plan is loaded.
 *
 * @param checkpoint   the checkpoint planned
 * @param options      what the caller asked
 * @param host         what was measured about the host
 * @param files        one entry per file this rank reads, in checkpoint order
 * @param order        the tensors this rank holds, in the order the consumer asks for them
 * @param slices       this rank's slice of every tensor it holds, by name, in checkpoint order; a tensor held
 *                     whole by another rank (an MoE expert under an experts rule) has no entry
 * @param bytesPerRank slice bytes each rank of the group holds, indexed by rank (computed when first read)
 * @param planNanos    how long planning took
 */
public record LoadPlan(Checkpoint checkpoint, LoadOptions options, HostFacts host, List<FilePlan> files,
                       List<TensorRef> order, Map<String, TensorSlice> slices, List<Long> bytesPerRank,
                       long planNanos) {
    /**
     * Copies the lists and the map into unmodifiable ones.
     *
     * @throws StloadException {@link ErrorKind#Usage} if any component is null, or a slice has file bytes that no
     *                         read of its file holds
     */
    public LoadPlan {
        if (checkpoint == null || options == null || host == null || files == null || order == null || slices == null
                || bytesPerRank == null) {
            throw StloadException.usage("a plan needs its checkpoint, options, host facts, files, order, slices and "
                    + "bytes per rank, not null");
        }
        files = List.copyOf(files);
        order = List.copyOf(order);
        slices = Collections.unmodifiableMap(new LinkedHashMap<>(slices));
        bytesPerRank = Collections.unmodifiableList(bytesPerRank); // may compute other ranks' bytes on demand
        requireReadsHoldSlices(files, slices);
    }

    /**
     * The engine lands a slice once the reads of its file that span it are in: a byte no read holds would land as
     * whatever its memory held. A plan built by hand is refused for it, as one the planner got wrong would be.
     */
    private static void requireReadsHoldSlices(List<FilePlan> files, Map<String, TensorSlice> slices) {
        Map<Header, FilePlan> byFile = new IdentityHashMap<>();
        files.forEach(f -> byFile.put(f.file(), f));
        for (TensorSlice s : slices.values()) {
            FilePlan f = byFile.get(s.tensor().file());
            for (TensorSlice.Part p : s.parts()) {
                if (p.fileBytes() > 0 && (f == null || !f.holds(p))) {
                    throw StloadException.usage(s.name() + ": the plan's reads of " + s.tensor().file().file()
                            + " leave some of its bytes unread");
                }
            }
        }
    }

    /** {@return the rank loaded and the partition rules} */
    public Partitioning partitioning() {
        return options.partitioning();
    }

    /** {@return the bytes of this rank's slices: what lands in memory} */
    public long bytes() {
        return bytesPerRank.get(partitioning().rank());
    }

    /** {@return the bytes of this rank's largest slice: what a destination holding each slice whole holds at least} */
    public long largestSliceBytes() {
        return slices.values().stream().mapToLong(TensorSlice::byteSize).max().orElse(0);
    }

    /** {@return the bytes this rank reads from its files: its slices plus the small gaps read through} */
    public long readBytes() {
        long sum = 0;
        for (FilePlan f : files) {
            sum += f.facts().bytesToRead();
        }
        return sum;
    }

    /**
     * {@return true when some tensor is cut or left to another rank}
     * Then this rank's memory cannot mirror the files' layout.
     */
    public boolean isPartial() {
        return slices.size() < checkpoint.tensors().size() || slices.values().stream().anyMatch(s -> !s.isWhole());
    }

    /**
     * Returns this rank's slice of a tensor.
     *
     * @param t a tensor of the checkpoint
     * @return its slice
     * @throws StloadException {@link ErrorKind#TensorNotFound} when this rank holds none of it (another rank's
     *                         expert, or a tensor the options leave out); {@link ErrorKind#Usage} if {@code t} is null
     */
    public TensorSlice slice(TensorRef t) {
        StloadException.requireNonNull(t, "a slice is looked up by its tensor, not null");
        return slice(t.name());
    }

    /**
     * Returns this rank's slice of a tensor.
     *
     * @param name the tensor's name
     * @return its slice
     * @throws StloadException {@link ErrorKind#TensorNotFound} when this rank holds no tensor of that name;
     *                         {@link ErrorKind#Usage} if {@code name} is null
     */
    public TensorSlice slice(String name) {
        requireName(name);
        TensorSlice s = slices.get(name);
        if (s == null) {
            throw new StloadException(ErrorKind.TensorNotFound, null, "rank " + partitioning().rank() + " holds no"
                    + " tensor named `" + name + "` (" + slices.size() + " planned)");
        }
        return s;
    }

    /**
     * Looks this rank's slice of a tensor up without failing.
     *
     * @param name the tensor's name
     * @return its slice, or empty when this rank holds none of it
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} is null
     */
    public Optional<TensorSlice> find(String name) {
        requireName(name);
        return Optional.ofNullable(slices.get(name));
    }

    private static void requireName(String name) {
        StloadException.requireNonNull(name, "a slice is looked up by its tensor's name, not null");
    }
}
