package io.stload.plan;

/** File bytes {@code [from, to)}. */
public record ByteRange(long from, long to) {
    public ByteRange {
        if (to < from) {
            throw new IllegalArgumentException("empty range reversed: [" + from + ", " + to + ")");
        }
    }

    public long length() {
        return to - from;
    }
}
