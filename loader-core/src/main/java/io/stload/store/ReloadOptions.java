package io.stload.store;

import io.stload.StloadException;
import io.stload.plan.LoadOptions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * How a reload loads and publishes the new version. Immutable: each {@code with} method returns a changed copy.
 *
 * @param mode           {@link Mode#BESIDE}: into new memory while the old version serves; {@link Mode#IN_PLACE}:
 *                       over the serving version's memory, quiesced
 * @param quiesce        stop new leases and wait for the live ones to close before publishing, so the flush
 *                       hooks run while nothing reads the weights; otherwise publish at once and never wait.
 *                       Always true in place
 * @param quiesceTimeout how long a quiesced reload waits for live leases before it gives up
 * @param flushHooks     run in order while quiesced; only meaningful with {@code quiesce}
 * @param stagingBytes   in place: the most host memory staging the changed bytes may take before the serving
 *                       memory is overwritten ({@link #DEFAULT_STAGING_BYTES}): the bytes, packed, and the engine's
 *                       read buffers while it reads them (an I/O thread's direct block each, 32 MiB by default); when
 *                       they need more, the changed bytes are written straight from the files (in the read buffers
 *                       only), and a failure then leaves the store failed
 * @param carryOver      which tensors are read: only those whose bytes changed ({@link CarryOver#UNCHANGED}), or
 *                       all of them
 * @param loadOptions    strategy, threads, rank and partition rules for this reload and the ones after it; empty
 *                       for those of the serving version
 */
public record ReloadOptions(Mode mode, boolean quiesce, Duration quiesceTimeout, List<FlushHook> flushHooks,
                            long stagingBytes, CarryOver carryOver, Optional<LoadOptions> loadOptions) {
    /** One GiB: the most host memory a reload in place stages the changed bytes in, unless told otherwise. */
    public static final long DEFAULT_STAGING_BYTES = 1L << 30;

    /** The longest quiesce timeout: a day, as long as new leases may be held back. */
    public static final Duration MAX_QUIESCE_TIMEOUT = Duration.ofDays(1);

    /** Publish as soon as the new version is loaded beside the old; readers keep their version until their leases close. */
    public static final ReloadOptions IMMEDIATE = new ReloadOptions(false, Duration.ZERO, List.of());

    /** Where a reload puts the new version's bytes. */
    public enum Mode {
        /**
         * Into new memory (host, the caller's or a device's) while leases read the old; then published at once, or
         * after a quiesce. Tensors whose bytes did not change are shared with the serving version, not copied.
         */
        BESIDE,
        /**
         * Over the serving version's memory, for memory that cannot be doubled (weights bound into an engine's
         * kernels): new leases wait and live ones drain (bounded by the quiesce timeout), the changed bytes are
         * written over the live ones, and leases resume on the new version. Every header, shard, dtype and shape is
         * checked first, and the changed bytes are staged in host memory when they fit the staging bound (and half
         * the memory a cgroup can still give the process).
         */
        IN_PLACE
    }

    /** Which tensors a reload reads. */
    public enum CarryOver {
        /**
         * Only those whose bytes may have changed: a tensor is carried over when both versions record the same
         * digest for it in their {@code __metadata__} ({@link io.stload.format.TensorDigest}), or, without digests,
         * when it lies at the same offsets of the very same file version ({@link io.stload.format.Header#fileVersion()}).
         */
        UNCHANGED,
        /** Every tensor, as a first load would. */
        NONE
    }

    /**
     * Copies the hooks and checks the options.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if the timeout is negative or longer than
     *                         {@link #MAX_QUIESCE_TIMEOUT}, the staging bound is negative, a hook is null, hooks are
     *                         given without {@code quiesce}, or in place without {@code quiesce}; if an option is
     *                         given where it cannot act: a timeout other than zero without {@code quiesce}, a staging
     *                         bound other than {@link #DEFAULT_STAGING_BYTES} beside
     */
    public ReloadOptions {
        if (mode == null || carryOver == null || loadOptions == null || quiesceTimeout == null || flushHooks == null
                || flushHooks.stream().anyMatch(Objects::isNull)) { // List.of's contains(null) throws
            throw StloadException.usage("reload options need a mode, a carry-over rule, a timeout, hooks that are not"
                    + " null and load options (Optional.empty() for the serving version's)");
        }
        flushHooks = List.copyOf(flushHooks);
        if (quiesceTimeout.isNegative() || quiesceTimeout.compareTo(MAX_QUIESCE_TIMEOUT) > 0) {
            throw StloadException.usage("quiesce timeout must be from 0 to a day, not " + quiesceTimeout);
        }
        if (stagingBytes < 0) {
            throw StloadException.usage("staging bound must not be negative");
        }
        if (!quiesce && !flushHooks.isEmpty()) {
            // Outside a quiesce, readers of the old version may still be running while a hook flushes.
            throw StloadException.usage("flush hooks need a quiesced reload");
        }
        if (mode == Mode.IN_PLACE && !quiesce) {
            throw StloadException.usage("a reload in place writes over the weights readers use: it must quiesce");
        }
        // An option that cannot act is refused rather than ignored: the caller meant it to bound something.
        if (!quiesce && !quiesceTimeout.isZero()) {
            throw StloadException.usage("a quiesce timeout needs a quiesced reload; without one nothing waits");
        }
        if (mode == Mode.BESIDE && stagingBytes != DEFAULT_STAGING_BYTES) {
            throw StloadException.usage("a staging bound applies to a reload in place; beside, nothing is staged");
        }
    }

    /**
     * A reload beside the serving version, reading only what changed.
     *
     * @param quiesce        whether to wait for readers to let go before publishing
     * @param quiesceTimeout how long to wait for them
     * @param flushHooks     run in order while quiesced
     * @throws StloadException {@link io.stload.ErrorKind#Usage} as the canonical constructor
     */
    public ReloadOptions(boolean quiesce, Duration quiesceTimeout, List<FlushHook> flushHooks) {
        this(Mode.BESIDE, quiesce, quiesceTimeout, flushHooks, DEFAULT_STAGING_BYTES, CarryOver.UNCHANGED,
                Optional.empty());
    }

    /**
     * A reload beside the serving version that waits for live leases to close, then runs the hooks, then publishes.
     *
     * @param timeout how long to wait for live leases before rolling back
     * @param hooks   run in order while quiesced
     * @return the options
     * @throws StloadException {@link io.stload.ErrorKind#Usage} as the canonical constructor; if {@code hooks} is null
     */
    public static ReloadOptions quiesced(Duration timeout, FlushHook... hooks) {
        return new ReloadOptions(true, timeout, hookList(hooks));
    }

    /**
     * A reload in place: new leases wait, live ones drain (at most {@code timeout}), the hooks run, the changed
     * bytes are written over the serving ones, and leases resume on the new version.
     *
     * @param timeout how long to wait for live leases before giving up, with the old weights intact
     * @param hooks   run in order while quiesced, before the first byte is overwritten
     * @return the options, staging at most {@link #DEFAULT_STAGING_BYTES}
     * @throws StloadException {@link io.stload.ErrorKind#Usage} as the canonical constructor; if {@code hooks} is null
     */
    public static ReloadOptions inPlace(Duration timeout, FlushHook... hooks) {
        return new ReloadOptions(Mode.IN_PLACE, true, timeout, hookList(hooks), DEFAULT_STAGING_BYTES,
                CarryOver.UNCHANGED, Optional.empty());
    }

    private static List<FlushHook> hookList(FlushHook[] hooks) {
        StloadException.requireNonNull(hooks, "flush hooks are an array, empty for none, not null");
        return Arrays.asList(hooks);
    }

    /**
     * Returns a copy with another staging bound.
     *
     * @param bytes the most host memory a reload in place stages changed bytes in; 0 never stages
     * @return the changed copy
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code bytes} is negative; on a reload beside,
     *                         unless it is {@link #DEFAULT_STAGING_BYTES}
     */
    public ReloadOptions withStagingBytes(long bytes) {
        return new ReloadOptions(mode, quiesce, quiesceTimeout, flushHooks, bytes, carryOver, loadOptions);
    }

    /**
     * Returns a copy with another carry-over rule.
     *
     * @param rule which tensors to read
     * @return the changed copy
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code rule} is null
     */
    public ReloadOptions withCarryOver(CarryOver rule) {
        return new ReloadOptions(mode, quiesce, quiesceTimeout, flushHooks, stagingBytes, rule, loadOptions);
    }

    /**
     * Returns a copy that loads with other options (strategy, threads, the rank and its partition rules), which stay
     * the store's for the reloads after it.
     *
     * @param options how to load the new version
     * @return the changed copy
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code options} is null
     */
    public ReloadOptions withLoadOptions(LoadOptions options) {
        StloadException.requireNonNull(options, "a reload's load options are options, not null");
        return new ReloadOptions(mode, quiesce, quiesceTimeout, flushHooks, stagingBytes, carryOver,
                Optional.of(options));
    }
}
