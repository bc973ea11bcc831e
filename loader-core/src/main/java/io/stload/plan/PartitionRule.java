package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.checkpoint.TensorRef;
import io.stload.format.TensorInfo;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One rule of a {@link PartitionSpec}: the tensors whose names match {@code pattern} are replicated on every
 * rank, split along dimension {@code dim} into one part per rank, or, for MoE experts, held whole by the one
 * rank their expert is assigned to ({@code ExpertAssignment}).
 *
 * <p>A split cuts the dimension into W even blocks ({@code divisible}: it must divide; otherwise the first
 * {@code n % W} ranks hold one more index), and may say more about what the dimension holds, as serving engines
 * lay it out:
 * <ul>
 *   <li>heads ({@code heads} and/or {@code headDim}): the dimension is heads of {@code headDim} indices, and ranks
 *       hold whole heads. With at least as many heads as ranks, the heads must divide among the ranks; with fewer,
 *       the ranks must divide among the heads and each head is held whole by {@code W / heads} ranks, rank r holding
 *       head {@code r / (W / heads)} (an engine's replicated KV heads), unless {@code divisible} forbids it;</li>
 *   <li>{@code parts}: the dimension is several tensors fused one after the other (a {@code qkv_proj} is
 *       [q; k; v], a {@code gate_up_proj} [gate; up]); each part is split on its own, by its own heads, and a rank
 *       holds its share of every part, concatenated in order;</li>
 *   <li>{@code padTo}: the dimension is padded to a multiple of {@code padTo} (an engine's padded vocabulary) and
 *       the padded length split evenly; rows past the real end are zeros the rank holds but never reads.</li>
 * </ul>
 *
 * @param source      the pattern as written (glob, or {@code re:} and the regex), for messages and {@code plan}
 * @param pattern     the compiled pattern; it must match the whole tensor name
 * @param dim         the dimension split across ranks, or {@link #REPLICATE}, or {@link #EXPERTS}
 * @param divisible   when splitting, refuse a dimension (or heads, or parts) that do not divide by the world size
 *                    instead of giving the first ranks one more index (or replicating heads)
 * @param heads       heads in the split dimension, 0 when the rule does not say (then {@code dim / headDim})
 * @param headDim     indices per head, 0 when the rule does not say (then {@code dim / heads}); both 0: no heads
 * @param parts       the fused parts of the split dimension, in order; empty for a dimension that is one tensor
 * @param padTo       pad the split dimension to a multiple of this before splitting it; 0 for no padding
 * @param expertCount for an experts rule, the experts each group must have; 0 for any number
 */
public record PartitionRule(String source, Pattern pattern, int dim, boolean divisible, long heads, long headDim,
                            List<Part> parts, long padTo, int expertCount) {
    /** The {@code dim} of a rule that replicates. */
    public static final int REPLICATE = -1;
    /** The {@code dim} of a rule that assigns whole experts to ranks (expert parallelism). */
    public static final int EXPERTS = -2;

    /**
     * One of the tensors fused along a split dimension.
     *
     * @param name      what the part is ({@code q}, {@code k}, {@code gate}...), for messages and {@code plan}; may be
     *                  empty, or null for empty
     * @param size      its indices of the split dimension, at least 1
     * @param headDim   indices per head, or 0 when the part is not made of heads
     * @param divisible whether its indices (or heads) must divide by the world size: no uneven split, no replicated
     *                  heads
     */
    public record Part(String name, long size, long headDim, boolean divisible) {
        /**
         * Checks the numbers.
         *
         * @throws StloadException {@link ErrorKind#Usage} for a size under 1, a negative head size, or a size that
         *         is not whole heads
         */
        public Part {
            if (size < 1 || headDim < 0 || (headDim > 0 && size % headDim != 0)) {
                throw StloadException.usage("a fused part needs a size of at least 1 that is whole heads, not size "
                        + size + " with head_dim " + headDim);
            }
            name = name == null ? "" : name;
        }

        /** {@return the part's heads, or 0 when it is not made of heads} */
        public long heads() {
            return headDim == 0 ? 0 : size / headDim;
        }

        /** As rules print it: {@code q: 32 heads of 96}, {@code gate: 8192}. */
        @Override
        public String toString() {
            String what = headDim > 0 ? heads() + " heads of " + headDim : Long.toString(size);
            return (name.isEmpty() ? "" : name + ": ") + what;
        }
    }

    /** One part's share of the split dimension for one rank: indices {@code [from, to)} then {@code pad} zero ones. */
    record Cut(long from, long to, long pad) {
        long length() {
            return to - from + pad;
        }
    }

    /**
     * Checks that the fields make one rule.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code dim} is below {@link #EXPERTS}, {@code divisible},
     *         heads, parts or padding are given to a rule that does not split, padding is combined with heads or parts,
     *         heads are given beside parts, a number is negative, or the parts' sizes add up past 2^63 - 1; if
     *         {@code source}, {@code pattern} or {@code parts} is null
     */
    public PartitionRule {
        if (source == null || pattern == null || parts == null) {
            throw StloadException.usage("a partition rule needs its source, pattern and parts, not null");
        }
        if (dim < EXPERTS) {
            throw StloadException.usage("split dimension must be >= 0: " + dim);
        }
        parts = List.copyOf(parts);
        if (divisible && dim < 0) {
            throw StloadException.usage("only a split can require a divisible dimension");
        }
        if (heads < 0 || headDim < 0 || padTo < 0 || expertCount < 0) {
            throw StloadException.usage(source + ": heads, head_dim, pad_to and an expert count cannot be negative");
        }
        boolean shaped = heads > 0 || headDim > 0 || !parts.isEmpty() || padTo > 0;
        if (shaped && dim < 0) {
            throw StloadException.usage(source + ": heads, head_dim, parts and pad_to apply to a split only");
        }
        if (padTo > 0 && (heads > 0 || headDim > 0 || !parts.isEmpty())) {
            throw StloadException.usage(source + ": pad_to pads a plain split; it cannot be combined with heads or parts");
        }
        if (!parts.isEmpty() && (heads > 0 || headDim > 0)) {
            throw StloadException.usage(source + ": with parts, each part says its own heads");
        }
        long partsSum = 0;
        for (Part p : parts) {
            partsSum += p.size();
            if (partsSum < 0) { // sizes are at least 1: past 2^63 - 1, it wrapped
                throw StloadException.usage(source + ": the parts' sizes add up past 2^63 - 1");
            }
        }
        if (heads > 0 && headDim > 0 && Math.multiplyHigh(heads, headDim) != 0) {
            throw StloadException.usage(source + ": " + heads + " heads of " + headDim + " overflow a dimension");
        }
        if (expertCount > 0 && dim != EXPERTS) {
            throw StloadException.usage(source + ": an expert count applies to an experts rule only");
        }
    }

    /**
     * A rule that replicates, assigns experts, or splits evenly, without heads, parts or padding.
     *
     * @param source    the pattern as written, for messages and {@code plan}
     * @param pattern   the compiled pattern; it must match the whole tensor name
     * @param dim       the dimension split, or {@link #REPLICATE}, or {@link #EXPERTS}
     * @param divisible when splitting, reject a dimension that does not divide by the world size
     * @throws StloadException {@link ErrorKind#Usage} as the canonical constructor
     */
    public PartitionRule(String source, Pattern pattern, int dim, boolean divisible) {
        this(source, pattern, dim, divisible, 0, 0, List.of(), 0, 0);
    }

    /**
     * A rule whose pattern is a glob: {@code *} matches any characters (dots included), {@code ?} any one character.
     *
     * @param glob      the pattern, matched against the whole tensor name
     * @param dim       the dimension split, or {@link #REPLICATE}, or {@link #EXPERTS}
     * @param divisible when splitting, reject a dimension that does not divide by the world size
     * @return the rule
     * @throws StloadException {@link ErrorKind#Usage} as the constructor; if {@code glob} is null
     */
    public static PartitionRule glob(String glob, int dim, boolean divisible) {
        StloadException.requireNonNull(glob, "a rule's glob is text such as `*.weight`, not null");
        return new PartitionRule(glob, globToRegex(glob), dim, divisible, 0, 0, List.of(), 0, 0);
    }

    /**
     * A rule whose pattern is a regular expression.
     *
     * @param regex     the pattern, matched against the whole tensor name
     * @param dim       the dimension split, or {@link #REPLICATE}, or {@link #EXPERTS}
     * @param divisible when splitting, reject a dimension that does not divide by the world size
     * @return the rule
     * @throws StloadException {@link ErrorKind#Usage} as the constructor; if {@code regex} is null or not a valid
     *                         expression
     */
    public static PartitionRule regex(String regex, int dim, boolean divisible) {
        StloadException.requireNonNull(regex, "a rule's regular expression is text, not null");
        Pattern pattern;
        try {
            pattern = Pattern.compile(regex);
        } catch (java.util.regex.PatternSyntaxException e) {
            throw StloadException.usage("bad regex: " + e.getDescription() + " near index " + e.getIndex());
        }
        return new PartitionRule("re:" + regex, pattern, dim, divisible, 0, 0, List.of(), 0, 0);
    }

    /**
     * This split, on head boundaries.
     *
     * @param heads   the heads the dimension holds, or 0 to take {@code dim / headDim}
     * @param headDim indices per head, or 0 to take {@code dim / heads}
     * @return the changed rule
     * @throws StloadException {@link ErrorKind#Usage} as the constructor
     */
    public PartitionRule withHeads(long heads, long headDim) {
        return new PartitionRule(source, pattern, dim, divisible, heads, headDim, parts, padTo, expertCount);
    }

    /**
     * This split, of a dimension fused from several tensors.
     *
     * @param fused the parts, in the order they lie in the dimension
     * @return the changed rule
     * @throws StloadException {@link ErrorKind#Usage} as the constructor
     */
    public PartitionRule withParts(List<Part> fused) {
        return new PartitionRule(source, pattern, dim, divisible, heads, headDim, fused, padTo, expertCount);
    }

    /**
     * This split, of a dimension padded to a multiple of {@code multiple} first.
     *
     * @param multiple the padded length's factor, e.g. 64 for an engine's vocabulary
     * @return the changed rule
     * @throws StloadException {@link ErrorKind#Usage} as the constructor
     */
    public PartitionRule withPadTo(long multiple) {
        return new PartitionRule(source, pattern, dim, divisible, heads, headDim, parts, multiple, expertCount);
    }

    /**
     * This experts rule, requiring every group to have {@code count} experts.
     *
     * @param count the experts per group, or 0 for any number
     * @return the changed rule
     * @throws StloadException {@link ErrorKind#Usage} as the constructor
     */
    public PartitionRule withExpertCount(int count) {
        return new PartitionRule(source, pattern, dim, divisible, heads, headDim, parts, padTo, count);
    }

    /** {@return true when every rank holds the matched tensors whole} */
    public boolean replicates() {
        return dim == REPLICATE;
    }

    /** {@return true when each matched expert is held whole by one rank} */
    public boolean assignsExperts() {
        return dim == EXPERTS;
    }

    /** {@return true when the rule splits on head boundaries} */
    public boolean byHeads() {
        return heads > 0 || headDim > 0;
    }

    /**
     * Whether this rule applies to a tensor.
     *
     * @param tensorName the tensor's name
     * @return true when the pattern matches the whole name
     * @throws StloadException {@link ErrorKind#Usage} if {@code tensorName} is null
     */
    public boolean matches(String tensorName) {
        StloadException.requireNonNull(tensorName, "a rule matches a tensor's name, not null");
        return wholeMatch(pattern, tensorName);
    }

    /**
     * Whether {@code pattern} matches the whole {@code name}. A name comes from a checkpoint and may be long: a
     * regular expression whose matching recurses with it (Java's does, per repetition of a group) would overflow
     * the stack, which is the pattern's fault, said as such.
     */
    static boolean wholeMatch(Pattern pattern, String name) {
        try {
            return pattern.matcher(name).matches();
        } catch (StackOverflowError e) {
            throw StloadException.usage("the pattern `" + Printable.start(pattern.pattern(), 120) + "` recurses too"
                    + " deeply to match a tensor name of " + name.length() + " characters; simplify it");
        }
    }

    /**
     * The pieces of the split dimension (of length {@code n}, unsigned) that rank {@code rank} of {@code worldSize}
     * holds, one per part, in order.
     *
     * @throws StloadException {@link ErrorKind#Usage} naming the tensor, the numbers and the reason when the rule
     *         cannot be honoured
     */
    List<Cut> cuts(TensorRef t, long n, int rank, int worldSize) {
        if (!parts.isEmpty()) {
            if (n < 0) {
                throw usage(t, "dimension " + dim + " (" + Long.toUnsignedString(n) + ") is too large for fused parts");
            }
            long sum = 0;
            for (Part p : parts) {
                sum += p.size(); // within 2^63 - 1: the constructor checked
            }
            if (sum != n) {
                StringBuilder sizes = new StringBuilder();
                for (Part p : parts) {
                    sizes.append(sizes.isEmpty() ? "" : " + ").append(p.name().isEmpty() ? "" : p.name() + " ")
                            .append(p.size());
                }
                throw usage(t, "fused parts " + sizes + " = " + sum + " rows, but dimension " + dim + " is " + n
                        + ": the parts do not add up");
            }
            List<Cut> out = new ArrayList<>(parts.size());
            long base = 0;
            for (Part p : parts) {
                Cut c = p.headDim() > 0 ? headCut(t, p.name(), p.size(), p.heads(), p.headDim(), p.divisible(), rank, worldSize)
                        : evenCut(t, p.name(), p.size(), p.divisible(), rank, worldSize);
                out.add(new Cut(base + c.from(), base + c.to(), 0));
                base += p.size();
            }
            return out;
        }
        if (byHeads()) {
            if (n < 0) {
                throw usage(t, "dimension " + dim + " (" + Long.toUnsignedString(n) + ") is too large for heads");
            }
            long d = headDim;
            long h = heads;
            if (h > 0 && d > 0 && h * d != n) {
                throw usage(t, "dimension " + dim + " is " + n + ", but " + h + " heads of " + d + " make "
                        + Long.toUnsignedString(h * d));
            }
            if (d == 0) {
                if (n % h != 0) {
                    throw usage(t, "dimension " + dim + " (" + n + ") is not " + h + " whole heads");
                }
                d = n / h;
            }
            if (n % d != 0) {
                throw usage(t, "dimension " + dim + " is " + n + ", not a multiple of head_dim " + d + " (" + n / d
                        + " heads and " + n % d + " rows): a cut would fall inside a head");
            }
            return List.of(headCut(t, "", n, n / d, d, divisible, rank, worldSize));
        }
        if (padTo > 0) {
            if (n < 0 || n > Long.MAX_VALUE - padTo) {
                throw usage(t, "dimension " + dim + " (" + Long.toUnsignedString(n) + ") is too large to pad");
            }
            long padded = (n + padTo - 1) / padTo * padTo;
            if (padded % worldSize != 0) {
                throw usage(t, padded + " " + indices() + " (" + n + " padded to a multiple of " + padTo
                        + ") do not divide among " + worldSize + " ranks");
            }
            long per = padded / worldSize;
            long lo = Math.min(n, rank * per);
            long hi = Math.min(n, rank * per + per);
            return List.of(new Cut(lo, hi, per - (hi - lo)));
        }
        return List.of(evenCut(t, "", n, divisible, rank, worldSize));
    }

    /** Rank {@code rank}'s block of {@code n} (unsigned) indices: even, or the first {@code n % W} ranks one more. */
    private Cut evenCut(TensorRef t, String part, long n, boolean mustDivide, int rank, int worldSize) {
        if (mustDivide && Long.remainderUnsigned(n, worldSize) != 0) {
            throw usage(t, (part.isEmpty() ? "dimension " + dim : "part " + part) + " (" + Long.toUnsignedString(n)
                    + ") does not divide by world size " + worldSize + " and its rule says divisible");
        }
        return new Cut(TensorSlice.firstIndex(n, rank, worldSize), TensorSlice.firstIndex(n, rank + 1, worldSize), 0);
    }

    /** Rank {@code rank}'s whole heads of {@code heads} heads of {@code d}: its share, or the one head it replicates. */
    private Cut headCut(TensorRef t, String part, long size, long heads, long d, boolean mustDivide, int rank,
                        int worldSize) {
        String what = (part.isEmpty() ? "" : "part " + part + ": ") + heads + " heads of " + d;
        if (heads >= worldSize || mustDivide) {
            if (heads % worldSize != 0) {
                throw usage(t, what + " do not divide among " + worldSize + " ranks"
                        + (heads < worldSize ? " (fewer heads than ranks, and the rule says divisible)"
                        : ": each rank must hold whole heads"));
            }
            long per = heads / worldSize;
            return new Cut(rank * per * d, (rank + 1) * per * d, 0);
        }
        if (worldSize % heads != 0) {
            throw usage(t, what + " over " + worldSize + " ranks: fewer heads than ranks, and " + worldSize
                    + " is not a multiple of " + heads + ", so the heads can be neither split nor replicated evenly");
        }
        long head = rank / (worldSize / heads);
        return new Cut(head * d, head * d + d, 0);
    }

    private static StloadException usage(TensorRef t, String why) {
        return new StloadException(ErrorKind.Usage, t.file().file(), t.name() + ": " + why);
    }

    /**
     * What each rank holds of a tensor this rule matches, in words: {@code 4 heads of 64 over 8 ranks, each held by 2},
     * {@code 4000 rows padded to 4032: 504 per rank, rank 7 holding 472 and 32 zero rows}.
     *
     * @param t         a tensor the rule matched
     * @param worldSize the number of ranks
     * @return one line, without the tensor's name
     * @throws StloadException {@link ErrorKind#Usage} if {@code t} is null
     */
    public String describe(TensorInfo t, int worldSize) {
        StloadException.requireNonNull(t, "a rule describes what it does to a tensor, not null");
        if (replicates()) {
            return "whole on every rank";
        }
        if (assignsExperts()) {
            return "whole experts, dealt in contiguous blocks over " + worldSize + " ranks"
                    + (expertCount > 0 ? " (" + expertCount + " per group: " + share(expertCount, worldSize) + ")" : "");
        }
        if (dim >= t.rank()) {
            return "no dimension " + dim + " to split";
        }
        long n = t.dim(dim);
        if (!parts.isEmpty()) {
            StringBuilder sb = new StringBuilder("fused parts of dimension " + dim + ", each rank holding its share of"
                    + " each, concatenated: ");
            for (int i = 0; i < parts.size(); i++) {
                Part p = parts.get(i);
                sb.append(i > 0 ? "; " : "").append(p.name().isEmpty() ? "part " + i : p.name()).append(' ')
                        .append(p.headDim() > 0 ? heads(p.heads(), p.headDim(), worldSize)
                                : p.size() + " " + indices() + ", " + share(p.size(), worldSize));
            }
            return sb.toString();
        }
        if (byHeads()) {
            long d = headDim > 0 ? headDim : heads > 0 && n % heads == 0 ? n / heads : 0;
            return d > 0 && n % d == 0 ? "dimension " + dim + ": " + heads(n / d, d, worldSize)
                    : "dimension " + dim + " of " + Long.toUnsignedString(n) + " is not whole heads";
        }
        if (padTo > 0 && n >= 0 && n <= Long.MAX_VALUE - padTo) {
            long padded = (n + padTo - 1) / padTo * padTo;
            long per = padded / worldSize;
            long lastReal = Math.max(0, Math.min(per, n - (worldSize - 1) * per));
            return "dimension " + dim + ": " + n + " " + indices() + " padded to " + padded + ", " + per + " per rank"
                    + (padded % worldSize != 0 ? " (does not divide among " + worldSize + " ranks)"
                    : padded == n ? "" : "; rank " + (worldSize - 1) + " holds " + lastReal + " and " + (per - lastReal)
                    + " zero " + indices());
        }
        return "dimension " + dim + ": " + Long.toUnsignedString(n) + " over " + worldSize + " ranks, "
                + (Long.remainderUnsigned(n, worldSize) == 0 ? Long.divideUnsigned(n, worldSize) + " each"
                : Long.divideUnsigned(n, worldSize) + " or " + (Long.divideUnsigned(n, worldSize) + 1));
    }

    /** What the split dimension's indices are called in messages: rows of dimension 0, else indices. */
    private String indices() {
        return dim == 0 ? "rows" : "indices";
    }

    private static String share(long n, int worldSize) {
        return n % worldSize == 0 ? n / worldSize + " per rank" : n / worldSize + " or " + (n / worldSize + 1) + " per rank";
    }

    private String heads(long h, long d, int worldSize) {
        String what = h + " heads of " + d + " over " + worldSize + " ranks, ";
        if (h >= worldSize) {
            return what + (h % worldSize == 0 ? h / worldSize + " each" : "which do not divide");
        }
        return what + (worldSize % h == 0 ? "each held by " + worldSize / h : "which do not divide");
    }

    /**
     * {@code *} matches any characters (dots included), {@code ?} any one character; the rest is literal. Between
     * stars each piece is fixed-length, so its leftmost place is always a right one: each is matched there once
     * (an atomic group), never retried at every later place, and a glob of many stars stays linear in the name.
     */
    static Pattern globToRegex(String glob) {
        String[] pieces = glob.split("\\*", -1);
        StringBuilder re = new StringBuilder(fixed(pieces[0]));
        for (int i = 1; i < pieces.length; i++) {
            re.append(i < pieces.length - 1 ? "(?>.*?" + fixed(pieces[i]) + ")" : ".*" + fixed(pieces[i]));
        }
        return Pattern.compile(re.toString(), Pattern.DOTALL);
    }

    /** A piece of a glob without stars: {@code ?} any one character, the rest literal. */
    private static String fixed(String piece) {
        StringBuilder re = new StringBuilder();
        String[] literals = piece.split("\\?", -1);
        for (int i = 0; i < literals.length; i++) {
            if (i > 0) {
                re.append('.');
            }
            if (!literals[i].isEmpty()) {
                re.append(Pattern.quote(literals[i]));
            }
        }
        return re.toString();
    }

    /**
     * As {@code plan} prints it: {@code *.o_proj.weight -> split 1}, {@code *.experts.* -> experts},
     * {@code *.k_proj.weight -> split 0 by heads of 64}, {@code *.qkv_proj.weight -> split 0 in parts q: 32 heads of 96,
     * k: 8 heads of 96, v: 8 heads of 96}, {@code lm_head.weight -> split 0 padded to 64}.
     */
    @Override
    public String toString() {
        String what = switch (dim) {
            case REPLICATE -> "replicate";
            case EXPERTS -> "experts" + (expertCount > 0 ? " (" + expertCount + " per group)" : "");
            default -> "split " + dim;
        };
        if (byHeads()) {
            what += " by " + (heads > 0 ? heads + " " : "") + "heads" + (headDim > 0 ? " of " + headDim : "");
        }
        if (!parts.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            for (Part p : parts) {
                sb.append(sb.isEmpty() ? "" : ", ").append(p).append(p.divisible() && !divisible ? " (divisible)" : "");
            }
            what += " in parts " + sb;
        }
        if (padTo > 0) {
            what += " padded to " + padTo;
        }
        return source + " -> " + what + (divisible ? " (divisible)" : "");
    }
}
