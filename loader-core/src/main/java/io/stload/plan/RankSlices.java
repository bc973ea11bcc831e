package io.stload.plan;

import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.Shape;
import io.stload.format.TensorInfo;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Applies a partition spec to a checkpoint: the slice of every tensor that one rank holds. A tensor the rank
 * does not hold at all (an MoE expert assigned to another rank) has no entry: no read is planned for it, it
 * takes no memory, and it is not among the rank's weights.
 *
 * <p>A null argument is a {@link io.stload.ErrorKind#Usage} error.
 */
public final class RankSlices {
    private RankSlices() {
    }

    /**
     * Returns the slices one rank holds.
     *
     * @param checkpoint the open checkpoint
     * @param p          the rank and the partition rules
     * @return the slices by tensor name, in checkpoint order; only the tensors the rank holds
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Unsupported} if a rule cannot cut a tensor,
     *         {@link io.stload.ErrorKind#Usage} if a rule cannot be honoured (heads or a dimension that do not divide)
     */
    public static Map<String, TensorSlice> of(Checkpoint checkpoint, Partitioning p) {
        return match(checkpoint, p).slices(p.rank());
    }

    /**
     * Matches the rules once, for the slices or the bytes of any rank; linear in the tensors, whatever the world size.
     *
     * @param checkpoint the open checkpoint
     * @param p          the partition rules and world size (its rank is not used)
     * @return the matched rules
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Unsupported} if an experts rule matches a tensor with
     *         no expert number
     */
    public static Matched match(Checkpoint checkpoint, Partitioning p) {
        if (checkpoint == null || p == null) {
            throw StloadException.usage("slices are matched on a checkpoint by its partitioning, not null");
        }
        return Matched.of(checkpoint, p);
    }

    /**
     * Each tensor with the rule that decides it (null: replicated; no rule is evaluated for a single rank), and
     * who holds each expert. Matching every name against every rule is the costly part of slicing a checkpoint
     * of thousands of expert tensors, so it is done once however many ranks are sliced.
     */
    public static final class Matched {
        private final List<Match> matches;
        private final ExpertAssignment experts;
        private final int worldSize;
        private final TensorFilter filter;
        /** Made the first time another rank's bytes are asked for; the same whichever thread makes it. */
        private volatile Summary summary;

        private Matched(List<Match> matches, ExpertAssignment experts, int worldSize, TensorFilter filter) {
            this.matches = matches;
            this.experts = experts;
            this.worldSize = worldSize;
            this.filter = filter;
        }

        /** A tensor and the rule that decides it (null: replicated). */
        private record Match(TensorRef tensor, PartitionRule rule) {
        }

        /** How the ranks hold a tensor: each whole, each a slice, its expert's owner alone, or none of them. */
        private enum Kind { EVERYWHERE, CUT, EXPERT, LEFT_OUT }

        static Matched of(Checkpoint checkpoint, Partitioning p) {
            List<Match> matches = new ArrayList<>(checkpoint.tensors().size());
            List<TensorRef> experts = new ArrayList<>();
            for (TensorRef t : checkpoint.tensors().values()) {
                PartitionRule rule = p.worldSize() == 1 ? null : p.spec().ruleFor(t.name());
                matches.add(new Match(t, rule));
                if (rule != null && rule.assignsExperts()) {
                    experts.add(t);
                }
            }
            // An expert's owner depends on how many experts its group has, so all of them are counted first.
            return new Matched(matches, ExpertAssignment.of(experts, p.spec(), p.worldSize()), p.worldSize(),
                    TensorFilter.ALL);
        }

        /**
         * Keeps only the tensors {@code f} matches, of what each rank holds. Experts stay dealt as in the whole
         * checkpoint, so a subset never moves an expert to another rank.
         *
         * @param f the tensors to keep
         * @return the narrowed match
         */
        public Matched only(TensorFilter f) {
            StloadException.requireNonNull(f,
                    "a match is narrowed by a tensor filter (TensorFilter.ALL for all), not null");
            return new Matched(matches, experts, worldSize, f);
        }

        private Kind kind(Match m) {
            PartitionRule rule = m.rule();
            if (!filter.matches(m.tensor().name())) {
                return Kind.LEFT_OUT;
            }
            if (rule == null || rule.replicates()) {
                return Kind.EVERYWHERE;
            }
            return rule.assignsExperts() ? Kind.EXPERT : Kind.CUT;
        }

        /**
         * Returns the slices one rank holds.
         *
         * @param rank a rank of the world
         * @return the slices by tensor name, in checkpoint order
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Unsupported} if a rule cannot cut a tensor
         */
        public Map<String, TensorSlice> slices(int rank) {
            Map<String, TensorSlice> out = new LinkedHashMap<>();
            for (Match m : matches) {
                TensorRef t = m.tensor();
                switch (kind(m)) {
                    case EVERYWHERE -> out.put(t.name(), TensorSlice.whole(t));
                    case CUT -> out.put(t.name(), TensorSlice.of(t, m.rule(), rank, worldSize));
                    case EXPERT -> {
                        if (experts.holds(t, rank)) {
                            out.put(t.name(), TensorSlice.whole(t));
                        }
                    }
                    case LEFT_OUT -> { }
                }
            }
            return out;
        }

        /**
         * Returns the bytes of {@link #slices} without keeping them.
         *
         * @param rank a rank of the world
         * @return the total size of that rank's slices
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Unsupported} if a rule cannot cut a tensor
         */
        public long bytes(int rank) {
            Summary s = summary;
            if (s == null) {
                summary = s = summarize();
            }
            long sum = s.everywhere() + s.expertBytes().getOrDefault(rank, 0L);
            for (Map.Entry<Match, Integer> cut : s.cutShapes().entrySet()) {
                Match m = cut.getKey();
                sum += cut.getValue() * TensorSlice.of(m.tensor(), m.rule(), rank, worldSize).byteSize();
            }
            return sum;
        }

        /**
         * What every rank's bytes are made of, found in one pass over the tensors, so that each rank's then costs a
         * pass over the split shapes (a model repeats a few under a few rules in every layer), not over the tensors:
         * listing a world of W ranks costs W times the shapes.
         */
        private Summary summarize() {
            long everywhere = 0;
            Map<Shaped, Match> shapes = new HashMap<>();
            Map<Match, Integer> cutShapes = new LinkedHashMap<>();
            Map<Integer, Long> expertBytes = new HashMap<>();
            for (Match m : matches) {
                TensorRef t = m.tensor();
                switch (kind(m)) {
                    case EVERYWHERE -> everywhere += t.info().byteSize();
                    case EXPERT -> expertBytes.merge(experts.owner(t), t.info().byteSize(), Long::sum);
                    case CUT -> cutShapes.merge(shapes.computeIfAbsent(
                            new Shaped(m.rule(), t.info().dtype(), t.info().shape()), k -> m), 1, Integer::sum);
                    case LEFT_OUT -> { }
                }
            }
            return new Summary(everywhere, cutShapes, expertBytes);
        }

        /**
         * @param everywhere  the bytes of the tensors every rank holds whole
         * @param cutShapes   a tensor of each split shape, and how many tensors have that shape
         * @param expertBytes the bytes of the experts each rank owns, by rank
         */
        private record Summary(long everywhere, Map<Match, Integer> cutShapes, Map<Integer, Long> expertBytes) {
        }

        /** A split rule and the dtype and shape it cuts: what a slice's size depends on, for one rank. */
        private record Shaped(PartitionRule rule, DType dtype, Shape shape) {
            @Override
            public boolean equals(Object o) {
                return o instanceof Shaped s && s.rule == rule && s.dtype == dtype && s.shape.equals(shape);
            }

            @Override
            public int hashCode() {
                return System.identityHashCode(rule) * 31 + shape.hashCode() + dtype.ordinal();
            }
        }
    }

    /**
     * Picks the slices of one file's tensors.
     *
     * @param h      the file
     * @param slices a rank's slices by tensor name
     * @return those of the file's tensors, in file order
     */
    public static List<TensorSlice> inFile(Header h, Map<String, TensorSlice> slices) {
        StloadException.requireNonNull(h, "a file's slices are picked for its header, not null");
        requireSlices(slices);
        List<TensorSlice> out = new ArrayList<>();
        for (TensorInfo t : h.tensors()) {
            TensorSlice s = slices.get(t.name());
            // A tensor of this name the checkpoint takes from another file (the index maps it there, or the
            // file is a second name of one that holds it) is not read from this one.
            if (s != null && s.tensor().file() == h) {
                out.add(s);
            }
        }
        return out;
    }

    /**
     * Sums slice sizes.
     *
     * @param slices slices by tensor name
     * @return their total size in bytes
     */
    public static long bytes(Map<String, TensorSlice> slices) {
        requireSlices(slices);
        long sum = 0;
        for (TensorSlice s : slices.values()) {
            sum += s.byteSize();
        }
        return sum;
    }

    private static void requireSlices(Map<String, TensorSlice> slices) {
        StloadException.requireNonNull(slices, "slices are a map by tensor name, not null");
    }
}
