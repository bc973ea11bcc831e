package io.stload.cuda;

import io.stload.StloadException;

/**
 * The staging ring's shape: {@code windows} page-locked buffers of {@code windowBytes} each. More windows let
 * more reads run ahead of the copies; larger ones cut per-copy overhead. Pinned memory is taken from the host
 * for the whole load, so the total is bounded.
 *
 * @param windows     at least 2, so one window fills while another copies
 * @param windowBytes a multiple of 4 KiB (O_DIRECT reads land in windows), at most {@link #MAX_WINDOW_BYTES}
 * @param pinning     how windows are pinned
 */
public record RingOptions(int windows, long windowBytes, Pinning pinning) {
    /** Well under 2 GiB: large pinned allocations are slow to make and some drivers refuse them. */
    public static final long MAX_WINDOW_BYTES = 1L << 30;
    /** The most host memory a ring may pin: 8 GiB. */
    public static final long MAX_TOTAL_BYTES = 8L << 30;
    /** Eight 64 MiB windows, pinned with cudaHostAlloc. */
    public static final RingOptions DEFAULTS = new RingOptions(8, 64L << 20, Pinning.HOST_ALLOC);

    /**
     * Checks the shape.
     *
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if there are fewer than 2 windows, a window is not a positive multiple of 4 KiB up to
     *         {@link #MAX_WINDOW_BYTES}, or the total passes {@link #MAX_TOTAL_BYTES}; if {@code pinning} is null
     */
    public RingOptions {
        StloadException.requireNonNull(pinning, "the staging ring's windows are pinned as a Pinning says, not null");
        if (windows < 2) {
            throw StloadException.usage("the staging ring needs at least 2 windows");
        }
        if (windowBytes <= 0 || windowBytes % 4096 != 0 || windowBytes > MAX_WINDOW_BYTES) {
            throw StloadException.usage("a staging window must be a positive multiple of 4 KiB, at most 1 GiB");
        }
        if (windows * windowBytes > MAX_TOTAL_BYTES) {
            throw StloadException.usage("the staging ring may pin at most 8 GiB of host memory");
        }
    }

    /** {@return the pinned host memory the ring takes} */
    public long totalBytes() {
        return windows * windowBytes;
    }
}
