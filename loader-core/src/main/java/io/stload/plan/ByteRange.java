package io.stload.plan;

import io.stload.StloadException;

/**
 * File bytes {@code [from, to)}.
 *
 * @param from offset of the first byte
 * @param to   offset one past the last byte
 */
public record ByteRange(long from, long to) {
    /**
     * Checks the bounds.
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code from < 0} or {@code to < from}
     */
    public ByteRange {
        if (from < 0 || to < from) {
            throw StloadException.usage("a byte range starts at 0 or after and ends at or after its start, not ["
                    + from + ", " + to + ")");
        }
    }

    /** {@return the number of bytes, {@code to - from}} */
    public long length() {
        return to - from;
    }
}
