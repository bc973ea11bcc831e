package io.stload.plan;

/**
 * The order in which the consumer asks for tensors. {@code SHUFFLED} is a fixed-seed random order, the way a
 * model's parameter registration order differs from file order: the case that makes lazy mmap fall apart
 * on a cold disk.
 */
public enum ReadOrder {
    /** The order tensors are stored in the files. */
    FILE,
    /** A random order, the same for the same seed. */
    SHUFFLED;

    /**
     * The order a user's text names, case-insensitively.
     *
     * @param value {@code file} or {@code shuffled}
     * @return the order it names
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} for anything else (null included), with a message listing the valid values
     */
    public static ReadOrder parse(String value) {
        return Choice.parse(ReadOrder.class, value, "order");
    }
}
