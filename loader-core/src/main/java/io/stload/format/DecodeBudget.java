package io.stload.format;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.nio.file.Path;

/**
 * The heap a header (or an index) may take once decoded: {@value #FACTOR} x its bytes plus {@value #SLACK_MIB}
 * MiB. Each entry is charged, as it is parsed, what it will cost in objects (a tensor, its name and shape, the
 * map and list slots that hold it), so a tiny entry repeated millions of times, or a shape with millions of
 * dimensions, is refused as {@link ErrorKind#HeaderTooLarge} before the heap is spent. Real headers use a fraction
 * of the bound: their names and offsets are long beside the objects they become.
 */
final class DecodeBudget {
    static final int FACTOR = 4;
    static final int SLACK_MIB = 4;
    /** A TensorInfo and its String and long[] headers, a HashMap node and table slot, two list slots, a TensorRef. */
    static final long PER_TENSOR = 256;
    /** What one metadata or index entry costs: two Strings and a LinkedHashMap node and table slot. */
    public static final long PER_ENTRY = 128;

    private final Path file;
    private final long sourceBytes;
    private final long limit;
    private long used;

    /**
     * Starts a budget for one header or index.
     *
     * @param file        the file being decoded, named in the error
     * @param sourceBytes the encoded length, which sets the bound
     */
    public DecodeBudget(Path file, long sourceBytes) {
        this.file = file;
        this.sourceBytes = sourceBytes;
        this.limit = FACTOR * sourceBytes + ((long) SLACK_MIB << 20);
    }

    /**
     * Estimates what a string costs on the heap: one byte per character for Latin-1 text (compact strings), else two.
     *
     * @param s the string
     * @return its estimated size in bytes, without the object header
     */
    public static long bytesOf(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) > 0xFF) {
                return 2L * s.length();
            }
        }
        return s.length();
    }

    /**
     * Charges the cost of one decoded entry. Not thread-safe: one budget serves one parse.
     *
     * @param bytes the entry's estimated cost
     * @param what  what is being decoded, named in the error
     * @throws io.stload.StloadException {@link ErrorKind#HeaderTooLarge} once the total passes the bound
     */
    public void charge(long bytes, String what) {
        used += bytes;
        if (used > limit) {
            throw new StloadException(ErrorKind.HeaderTooLarge, file, "decoding its " + sourceBytes + " bytes would "
                    + "take more than " + FACTOR + "x that plus " + SLACK_MIB + " MiB of memory (" + what
                    + "); no real checkpoint needs this many entries or dimensions");
        }
    }
}
