package io.stload.store;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Header;
import io.stload.sink.HostSink;
import io.stload.report.LoadListener;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.LoadOptions;
import io.stload.plan.Planner;
import io.stload.plan.RankSlices;
import io.stload.store.ReloadResult.Outcome;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Weights for a host application that keeps serving while they are replaced. The current weights are a
 * numbered version; readers {@link #lease()} it and keep seeing that version until they close the lease.
 * {@link #reload} loads a new version into new memory beside the old one, then publishes it; each version's
 * memory is freed exactly once, when it is no longer current and its last lease closes.
 *
 * <pre>{@code
 * try (WeightStore store = WeightStore.open(Path.of("/models/llama"), LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
 *     try (Lease lease = store.lease()) {
 *         Tensor q = lease.tensor("model.layers.0.self_attn.q_proj.weight");
 *     }
 *     ReloadResult r = store.reload(Path.of("/models/llama-step2"), ReloadOptions.IMMEDIATE);
 * }
 * }</pre>
 *
 * The store alone counts live leases, under one lock, so "no reader is running" is decided by the party
 * that grants and takes back every lease, at the moment it is true. Versions are freed outside that lock:
 * unmapping a large version must not hold up readers taking leases on the new one.
 */
public final class WeightStore implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.stload.store");

    /** One published version; {@code leases} is guarded by the store's lock. */
    static final class Version {
        final long number;
        final LoadedWeights weights;
        int leases;

        Version(long number, LoadedWeights weights) {
            this.number = number;
            this.weights = weights;
        }
    }

    private final LoadOptions options;
    private final long budgetBytes;
    private final Planner planner;
    private final Loader loader;
    private final int alignment;

    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when the live lease count drops to zero; a quiesced reload waits on it. */
    private final Condition idle = lock.newCondition();
    /** Signalled when a quiesce ends, published or rolled back; leases asked for meanwhile wait on it. */
    private final Condition resumed = lock.newCondition();
    // Guarded by lock.
    private Version current;
    private int liveLeases;
    private boolean quiescing;
    private boolean closed;
    /** Every version's memory not yet freed: the current one, old ones still leased, a new one being published. */
    private final List<LoadedWeights> held = new ArrayList<>();

    /** Two reloads at once would each claim the budget and each want the last word on which version is current. */
    private final AtomicBoolean reloading = new AtomicBoolean();

    private WeightStore(LoadOptions options, long budgetBytes) {
        this.options = options;
        this.budgetBytes = budgetBytes;
        this.planner = new Planner();
        this.loader = new Loader();
        this.alignment = NativeAccess.get().pageSize(); // as the loader aligns each file's memory
    }

    /**
     * Loads the first version (number 1). Every reload uses the same {@code options}. The budget caps the
     * bytes of all versions held at once (Long.MAX_VALUE for none); a checkpoint that alone exceeds it is refused.
     *
     * @param checkpoint        a {@code .safetensors} file or a folder of shards
     * @param options           how to load it, now and on every reload
     * @param memoryBudgetBytes the most host memory all versions held at once may take
     * @return the store, serving version 1; the caller closes it
     * @throws StloadException {@link ErrorKind#OutOfMemory} when the checkpoint alone exceeds the budget, or the
     *                         kind of whatever stops the first load
     */
    public static WeightStore open(Path checkpoint, LoadOptions options, long memoryBudgetBytes) {
        WeightStore store = new WeightStore(options, memoryBudgetBytes);
        Checkpoint cp = Checkpoint.open(checkpoint);
        long needed = store.estimateBytes(cp);
        if (needed > memoryBudgetBytes) {
            throw new StloadException(ErrorKind.OutOfMemory, checkpoint, "needs " + needed
                    + " bytes of host memory, over the memory budget of " + memoryBudgetBytes);
        }
        LoadedWeights first = store.load(cp);
        store.current = new Version(1, first);
        store.held.add(first);
        return store;
    }

    /**
     * Pins the current version. While a quiesced reload is swapping versions this waits (at most that
     * reload's quiesce timeout plus its flush hooks) and then leases whichever version ended up current.
     * Safe from any thread.
     *
     * @return the lease; its version's memory stays valid until it is closed
     * @throws IllegalStateException when the store is closed
     */
    public Lease lease() {
        lock.lock();
        try {
            while (quiescing) {
                resumed.awaitUninterruptibly();
            }
            requireOpen();
            current.leases++;
            liveLeases++;
            return new Lease(this, current);
        } finally {
            lock.unlock();
        }
    }

    /** Called once per lease, by {@link Lease#close()}. */
    void release(Version v) {
        boolean unused;
        lock.lock();
        try {
            v.leases--;
            if (--liveLeases == 0) {
                idle.signalAll();
            }
            // Leases are only granted on the current version, so once a retired one reaches zero it stays there.
            unused = v.leases == 0 && v != current;
        } finally {
            lock.unlock();
        }
        if (unused) {
            free(v.weights);
        }
    }

    /**
     * Loads {@code checkpoint} as the next version and publishes it, or explains why not; the current
     * version serves throughout and stays current on any failure. The checkpoint must have the same tensor
     * names, dtypes and shapes as the current version; its memory must fit the budget beside every version
     * still held (checked from the headers, before loading). Only one reload runs at a time; another one
     * asked for meanwhile returns {@link Outcome#ALREADY_RUNNING} at once.
     *
     * @param checkpoint the new version's checkpoint
     * @param how        whether to wait for readers to let go first, and the hooks to run meanwhile
     * @return the outcome and the version current afterwards; a failure is a result, not an exception
     */
    public ReloadResult reload(Path checkpoint, ReloadOptions how) {
        if (!reloading.compareAndSet(false, true)) {
            return failure(Outcome.ALREADY_RUNNING, 0, 0, "a reload is already running");
        }
        try {
            ReloadResult result = reloadAlone(checkpoint, how);
            LOG.log(System.Logger.Level.DEBUG, () -> "reload of " + checkpoint + ": " + result.outcome() + ", version "
                    + result.version() + " current" + (result.message() == null ? "" : " (" + result.message() + ")"));
            return result;
        } finally {
            reloading.set(false);
        }
    }

    private ReloadResult reloadAlone(Path checkpoint, ReloadOptions how) {
        long start = System.nanoTime();
        LoadedWeights next;
        try {
            Checkpoint cp = Checkpoint.open(checkpoint);
            Optional<String> difference = LayoutCheck.difference(currentVersion().weights.tensors(),
                    RankSlices.of(cp, options.partitioning()));
            if (difference.isPresent()) {
                return failure(Outcome.LOAD_FAILED, 0, 0, checkpoint + ": " + difference.get());
            }
            long needed = estimateBytes(cp);
            long inUse = memoryBytes();
            if (inUse + needed > budgetBytes) {
                return failure(Outcome.OVER_BUDGET, 0, 0, "the new version needs " + needed + " bytes while "
                        + inUse + " are held by versions still in use; the memory budget is " + budgetBytes);
            }
            next = load(cp);
        } catch (StloadException e) {
            return failure(Outcome.LOAD_FAILED, seconds(start), 0, e.getMessage());
        }
        lock.lock();
        try {
            held.add(next);
        } finally {
            lock.unlock();
        }
        double loadSeconds = seconds(start);
        if (!how.quiesce()) {
            return publish(next, loadSeconds, 0);
        }
        long quiesceStart = System.nanoTime();
        Optional<String> notIdle = quiesce(how.quiesceTimeout());
        if (notIdle.isPresent()) {
            return rollBack(next, Outcome.QUIESCE_TIMED_OUT, loadSeconds, seconds(quiesceStart), notIdle.get());
        }
        long from = currentVersion().number;
        for (FlushHook hook : how.flushHooks()) {
            try {
                hook.flush(from, from + 1);
            } catch (Throwable e) {
                // Whatever the caller's hook throws, assertion errors included, must roll back: a store left
                // quiesced would hold every reader forever.
                return rollBack(next, Outcome.FLUSH_FAILED, loadSeconds, seconds(quiesceStart),
                        "flush hook failed: " + e);
            }
        }
        return publish(next, loadSeconds, seconds(quiesceStart));
    }

    /**
     * Stops new leases and waits for the live ones to close. Returns why it gave up, or empty once no lease is
     * live; then none is granted until {@link #publish} or {@link #rollBack} resumes.
     */
    private Optional<String> quiesce(Duration timeout) {
        lock.lock();
        try {
            quiescing = true;
            long left = timeout.toNanos();
            while (liveLeases > 0) {
                if (left <= 0) {
                    return Optional.of(liveLeases + " lease(s) still open after the quiesce timeout of "
                            + timeout.toMillis() + " ms");
                }
                left = idle.awaitNanos(left);
            }
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted while waiting for " + liveLeases + " lease(s) to close");
        } finally {
            lock.unlock();
        }
    }

    /** Makes {@code next} current and ends any quiesce, in one step under the lock: no lease sees a mix. */
    private ReloadResult publish(LoadedWeights next, double loadSeconds, double quiesceSeconds) {
        Version old;
        boolean oldUnused;
        lock.lock();
        try {
            resume();
            if (closed) {
                old = null;
                oldUnused = false;
            } else {
                old = current;
                current = new Version(old.number + 1, next);
                // Decided here, with the swap: from now on no lease is granted on old, so zero stays zero.
                oldUnused = old.leases == 0;
            }
        } finally {
            lock.unlock();
        }
        if (old == null) {
            free(next);
            throw new IllegalStateException("weight store was closed during the reload");
        }
        if (oldUnused) {
            free(old.weights);
        }
        return new ReloadResult(Outcome.RELOADED, old.number + 1, loadSeconds, quiesceSeconds, null);
    }

    private ReloadResult rollBack(LoadedWeights next, Outcome outcome, double loadSeconds, double quiesceSeconds,
                                  String why) {
        lock.lock();
        try {
            resume();
        } finally {
            lock.unlock();
        }
        free(next); // never published, so never leased
        return failure(outcome, loadSeconds, quiesceSeconds, why + "; version " + currentVersion().number
                + " stays current");
    }

    /** Requires the lock. */
    private void resume() {
        quiescing = false;
        resumed.signalAll();
    }

    private ReloadResult failure(Outcome outcome, double loadSeconds, double quiesceSeconds, String message) {
        return new ReloadResult(outcome, currentVersion().number, loadSeconds, quiesceSeconds, message);
    }

    /**
     * The current version's number.
     *
     * @return 1 for the first load, one more for each published reload
     */
    public long version() {
        return currentVersion().number;
    }

    /**
     * Leases not yet closed, over all versions.
     *
     * @return the count
     */
    public int liveLeases() {
        lock.lock();
        try {
            return liveLeases;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether a quiesced reload is holding back new leases right now.
     *
     * @return true while it is
     */
    public boolean quiescing() {
        lock.lock();
        try {
            return quiescing;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Host memory held by every version not yet freed: during a reload, old and new together.
     *
     * @return the bytes
     */
    public long memoryBytes() {
        lock.lock();
        try {
            return held.stream().mapToLong(LoadedWeights::memoryBytes).sum();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The budget the store was opened with.
     *
     * @return the most bytes all versions held at once may take
     */
    public long memoryBudgetBytes() {
        return budgetBytes;
    }

    /**
     * Stops granting leases. The current version is freed now if unleased, otherwise when its last lease
     * closes; leases already granted stay valid until then.
     */
    @Override
    public void close() {
        Version last;
        boolean unused;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            last = current;
            current = null;
            // With current = null no lease can be granted on it, so zero stays zero.
            unused = last.leases == 0;
        } finally {
            lock.unlock();
        }
        if (unused) {
            free(last.weights);
        }
    }

    private Version currentVersion() {
        lock.lock();
        try {
            requireOpen();
            return current;
        } finally {
            lock.unlock();
        }
    }

    /** Requires the lock. */
    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("weight store is closed");
        }
    }

    private LoadedWeights load(Checkpoint cp) {
        return loader.execute(planner.plan(cp, options), LoadListener.NONE);
    }

    /** The bytes the loader will allocate for this checkpoint: its tensor data plus each file's alignment. */
    private long estimateBytes(Checkpoint cp) {
        long sum = 0;
        for (Header h : cp.files()) {
            sum += HostSink.regionBytes(h, alignment);
        }
        return sum;
    }

    private void free(LoadedWeights w) {
        w.close();
        lock.lock();
        try {
            held.remove(w);
        } finally {
            lock.unlock();
        }
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }
}
