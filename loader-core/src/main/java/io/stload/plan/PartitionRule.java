package io.stload.plan;

import java.util.regex.Pattern;

/**
 * One rule of a {@link PartitionSpec}: the tensors whose names match {@code pattern} are replicated on every
 * rank, split along dimension {@code dim} into one part per rank, or, for MoE experts, held whole by the one
 * rank their expert is assigned to ({@code ExpertAssignment}).
 *
 * @param source    the pattern as written (glob or regex), for messages and {@code plan}
 * @param pattern   the compiled pattern; it must match the whole tensor name
 * @param dim       the dimension split across ranks, or {@link #REPLICATE}, or {@link #EXPERTS}
 * @param divisible when splitting, reject a dimension that does not divide by the world size instead of
 *                  giving the first {@code dim % W} ranks one more index
 */
public record PartitionRule(String source, Pattern pattern, int dim, boolean divisible) {
    /** The {@code dim} of a rule that replicates. */
    public static final int REPLICATE = -1;
    /** The {@code dim} of a rule that assigns whole experts to ranks (expert parallelism). */
    public static final int EXPERTS = -2;

    /**
     * Checks the dimension.
     *
     * @throws IllegalArgumentException if {@code dim} is below {@link #EXPERTS}, or {@code divisible} is set on a rule
     *         that does not split
     */
    public PartitionRule {
        if (dim < EXPERTS) {
            throw new IllegalArgumentException("split dimension must be >= 0: " + dim);
        }
        if (divisible && dim < 0) {
            throw new IllegalArgumentException("only a split can require a divisible dimension");
        }
    }

    /**
     * A rule whose pattern is a glob: {@code *} matches any characters (dots included), {@code ?} any one character.
     *
     * @param glob      the pattern, matched against the whole tensor name
     * @param dim       the dimension split, or {@link #REPLICATE}, or {@link #EXPERTS}
     * @param divisible when splitting, reject a dimension that does not divide by the world size
     * @return the rule
     */
    public static PartitionRule glob(String glob, int dim, boolean divisible) {
        return new PartitionRule(glob, globToRegex(glob), dim, divisible);
    }

    /**
     * A rule whose pattern is a regular expression.
     *
     * @param regex     the pattern, matched against the whole tensor name
     * @param dim       the dimension split, or {@link #REPLICATE}, or {@link #EXPERTS}
     * @param divisible when splitting, reject a dimension that does not divide by the world size
     * @return the rule
     * @throws java.util.regex.PatternSyntaxException if the expression is invalid
     */
    public static PartitionRule regex(String regex, int dim, boolean divisible) {
        return new PartitionRule("re:" + regex, Pattern.compile(regex), dim, divisible);
    }

    /** {@return true when every rank holds the matched tensors whole} */
    public boolean replicates() {
        return dim == REPLICATE;
    }

    /** {@return true when each matched expert is held whole by one rank} */
    public boolean assignsExperts() {
        return dim == EXPERTS;
    }

    /**
     * Whether this rule applies to a tensor.
     *
     * @param tensorName the tensor's name
     * @return true when the pattern matches the whole name
     */
    public boolean matches(String tensorName) {
        return pattern.matcher(tensorName).matches();
    }

    /** {@code *} matches any characters (dots included), {@code ?} any one character; the rest is literal. */
    static Pattern globToRegex(String glob) {
        StringBuilder re = new StringBuilder();
        StringBuilder literal = new StringBuilder();
        for (char c : glob.toCharArray()) {
            if (c == '*' || c == '?') {
                if (!literal.isEmpty()) {
                    re.append(Pattern.quote(literal.toString()));
                    literal.setLength(0);
                }
                re.append(c == '*' ? ".*" : ".");
            } else {
                literal.append(c);
            }
        }
        if (!literal.isEmpty()) {
            re.append(Pattern.quote(literal.toString()));
        }
        return Pattern.compile(re.toString(), Pattern.DOTALL);
    }

    /** As {@code plan} prints it: {@code *.o_proj.weight -> split 1}, {@code *.experts.* -> experts}. */
    @Override
    public String toString() {
        return source + " -> " + switch (dim) {
            case REPLICATE -> "replicate";
            case EXPERTS -> "experts";
            default -> "split " + dim + (divisible ? " (divisible)" : "");
        };
    }
}
