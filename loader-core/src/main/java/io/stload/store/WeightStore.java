package io.stload.store;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Tensor;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.plan.RankSlices;
import io.stload.plan.TensorFilter;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadListener;
import io.stload.report.LoadReport;
import io.stload.sink.CallerBuffers;
import io.stload.store.ReloadDelta.Reason;
import io.stload.store.ReloadOptions.Mode;
import io.stload.store.ReloadResult.Outcome;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Weights for an application that keeps serving while they are replaced. The current weights are a numbered
 * version; readers {@link #lease()} it and keep seeing that version until they close the lease. {@link #reload}
 * opens a new version from any {@link WeightSource} (a path, a hub revision, an {@code s3://} prefix), compares it
 * tensor by tensor with the serving one, reads only the tensors whose bytes changed, and either loads them into new
 * memory <em>beside</em> the serving version (sharing the unchanged ones) and publishes it atomically, or quiesces
 * and writes them <em>in place</em> over the serving memory ({@link ReloadOptions.Mode}). The memory is a
 * {@link StoreMemory}: host memory the loader allocates, the caller's buffers, or a GPU's.
 *
 * <pre>{@code
 * try (WeightStore<Tensor> store = WeightStore.open(Path.of("/models/llama"), LoadOptions.DEFAULTS, Long.MAX_VALUE)) {
 *     try (Lease<Tensor> lease = store.lease()) {
 *         Tensor q = lease.tensor("model.layers.0.self_attn.q_proj.weight");
 *     }
 *     ReloadResult r = store.reload(Path.of("/models/llama-step2"), ReloadOptions.IMMEDIATE);
 * }
 * }</pre>
 *
 * <p>Versions are decided by the store alone, under one lock: it grants and takes back every lease, so "no reader is
 * running" is decided by the party that owns that count, at the moment it is true, never from a flag another thread
 * may have left behind; and the one reload slot is taken and given back in the same critical sections that publish
 * a version or roll one back, so a reload asked for while another finishes either is refused
 * ({@link Outcome#ALREADY_RUNNING}) or starts from the version just published: no version is published twice or
 * skipped. Memory is freed outside that lock, once no version holds it: unmapping a large version must not hold up
 * readers taking leases on the new one.
 *
 * @param <T> what a reader gets for a tensor: a host {@link Tensor}, a device tensor
 */
public final class WeightStore<T> implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.stload.store");

    /** One published version; {@code leases} and {@code dropped} are guarded by the store's lock. */
    static final class Version<T> {
        final long number;
        /** Written over by a reload in place. */
        final Map<String, T> tensors;
        /** The same tensors as leases hand them out ({@link StoreMemory#forReaders}). */
        final Map<String, T> readers;
        /** What this rank holds of each tensor, and where it was read from: compared by the next reload. */
        final Map<String, TensorSlice> slices;
        /** The memory holding each tensor; several versions may share one (tensors carried over). */
        final Map<String, Allocation<T>> owners;
        final SourceVersion source;
        final LoadOptions options;
        final boolean remote;
        int leases;
        boolean dropped;

        Version(long number, Map<String, T> tensors, StoreMemory<T> memory, Map<String, TensorSlice> slices,
                Map<String, Allocation<T>> owners, SourceVersion source, LoadOptions options, boolean remote) {
            this.number = number;
            this.tensors = Collections.unmodifiableMap(tensors);
            Map<String, T> forReaders = new LinkedHashMap<>();
            tensors.forEach((name, tensor) -> forReaders.put(name, memory.forReaders(tensor)));
            this.readers = Collections.unmodifiableMap(forReaders);
            this.slices = Collections.unmodifiableMap(slices);
            this.owners = Collections.unmodifiableMap(owners);
            this.source = source;
            this.options = options;
            this.remote = remote;
        }

        /** The distinct allocations its tensors live in. */
        Set<Allocation<T>> allocations() {
            Set<Allocation<T>> out = Collections.newSetFromMap(new IdentityHashMap<>());
            out.addAll(owners.values());
            return out;
        }
    }

    /** One load's memory; {@code versions} (versions not yet dropped that hold one of its tensors) under the lock. */
    static final class Allocation<T> {
        final StoreMemory.Buffers<T> buffers;
        int versions;

        Allocation(StoreMemory.Buffers<T> buffers) {
            this.buffers = buffers;
        }
    }

    /** The one reload holding the store's update slot, and the version it started from. */
    private static final class Claim<T> {
        final Version<T> from;

        Claim(Version<T> from) {
            this.from = from;
        }
    }

    /** A new version's checkpoint, compared and planned, while it is open. */
    private record Next(Checkpoint checkpoint, SourceVersion source, LoadOptions options,
                        Map<String, TensorSlice> slices, Changes changes, LoadPlan plan, long start) {
    }

    private final StoreMemory<T> memory;
    private final long budgetBytes;
    private final Planner planner = new Planner();
    private final Loader loader = new Loader();

    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when the live lease count drops to zero; a quiesced reload waits on it. */
    private final Condition idle = lock.newCondition();
    /** Signalled when a quiesce ends, published or rolled back; leases asked for meanwhile wait on it. */
    private final Condition resumed = lock.newCondition();
    // Guarded by lock.
    private Version<T> current;
    private int liveLeases;
    /**
     * The thread of the reload holding new leases back, null when none is: a lease that thread asks for would wait
     * for itself.
     */
    private Thread quiescer;
    private boolean closed;
    /** Set when a reload in place failed after it began overwriting: leases are refused with it. */
    private StloadException failure;
    /** The reload holding the update slot, or null. */
    private Claim<T> updating;
    /** Every allocation not yet freed: those of every version still held, and a new one being published. */
    private final List<Allocation<T>> held = new ArrayList<>();

    private WeightStore(StoreMemory<T> memory, long budgetBytes) {
        this.memory = memory;
        this.budgetBytes = budgetBytes;
    }

    /**
     * Loads the first version (number 1) of a local checkpoint into host memory the loader allocates. Every reload
     * uses the same {@code options} unless it gives its own. The budget caps the bytes of all versions held at once
     * (Long.MAX_VALUE for none); a checkpoint that alone exceeds it is refused.
     *
     * @param checkpoint        a {@code .safetensors} file or a folder of shards
     * @param options           how to load it, now and on every reload that gives no options of its own
     * @param memoryBudgetBytes the most host memory all versions held at once may take
     * @return the store, serving version 1; the caller closes it
     * @throws StloadException {@link ErrorKind#OutOfMemory} when the checkpoint alone exceeds the budget;
     *                         {@link ErrorKind#Usage} for a null argument or a negative budget; or the kind of
     *                         whatever stops the first load
     */
    public static WeightStore<Tensor> open(Path checkpoint, LoadOptions options, long memoryBudgetBytes) {
        return open(WeightSource.path(checkpoint), StoreMemory.host(), options, memoryBudgetBytes);
    }

    /**
     * Loads the first version (number 1) from any source into any memory.
     *
     * @param source            where the first version comes from
     * @param memory            where every version lives
     * @param options           how to load it, now and on every reload that gives no options of its own
     * @param memoryBudgetBytes the most memory (of {@code memory}'s kind) all versions held at once may take, as
     *                          {@link StoreMemory#bytesFor} counts it; Long.MAX_VALUE for no bound
     * @param <T>               what a reader gets for a tensor
     * @return the store, serving version 1; the caller closes it
     * @throws StloadException {@link ErrorKind#OutOfMemory} when the checkpoint alone exceeds the budget;
     *                         {@link ErrorKind#Usage} for a null argument or a negative budget; or the kind of
     *                         whatever stops the first load
     */
    public static <T> WeightStore<T> open(WeightSource source, StoreMemory<T> memory, LoadOptions options,
                                          long memoryBudgetBytes) {
        if (source == null || memory == null || options == null) {
            throw StloadException.usage("a store needs a source, a memory and load options, not null");
        }
        if (memoryBudgetBytes < 0) {
            throw StloadException.usage("a memory budget of " + memoryBudgetBytes + " bytes: at least 0");
        }
        WeightStore<T> store = new WeightStore<>(memory, memoryBudgetBytes);
        try (Checkpoint cp = opened(source)) {
            LoadPlan plan = store.planner.plan(cp, options, memory.profile());
            long needed = memory.bytesFor(plan);
            if (needed > memoryBudgetBytes) {
                throw new StloadException(ErrorKind.OutOfMemory, null, source.name() + ": needs " + needed
                        + " bytes of " + memory.describe() + ", over the memory budget of " + memoryBudgetBytes);
            }
            Allocation<T> first = new Allocation<>(memory.load(plan));
            first.versions = 1;
            store.held.add(first);
            Map<String, Allocation<T>> owners = new LinkedHashMap<>();
            plan.slices().keySet().forEach(name -> owners.put(name, first));
            store.current = new Version<>(1, ordered(plan.slices(), first.buffers.tensors()), memory, plan.slices(),
                    owners, SourceVersion.of(source, cp), options, cp.remote() != null);
        }
        return store;
    }

    /** The tensors in the plan's order. */
    private static <T> Map<String, T> ordered(Map<String, TensorSlice> slices, Map<String, T> tensors) {
        Map<String, T> out = new LinkedHashMap<>();
        slices.keySet().forEach(name -> out.put(name, tensors.get(name)));
        return out;
    }

    /** What the source opens; a failure of the caller's opener is the caller's, not a disk's. */
    private static Checkpoint opened(WeightSource source) {
        Checkpoint opened;
        try {
            opened = source.open();
        } catch (StloadException e) {
            throw e;
        } catch (RuntimeException e) {
            throw StloadException.callback("opening " + source.name() + " failed", e);
        }
        if (opened == null) {
            throw StloadException.callback("opening " + source.name() + " failed",
                    new NullPointerException("the source opened null, not a checkpoint"));
        }
        return opened;
    }

    /**
     * Pins the current version. While a quiesced reload is swapping versions this waits (at most that reload's
     * quiesce timeout plus its flush hooks and, in place, the writing of the new bytes) and then leases whichever
     * version ended up current. Safe from any thread.
     *
     * @return the lease; its version's memory stays valid until it is closed
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed; the failure's own kind, with the
     *                         failure ({@link #failure()}) as its cause, when a reload in place left the weights
     *                         half-written (until a reload succeeds)
     */
    public Lease<T> lease() {
        lock.lock();
        try {
            if (quiescer == Thread.currentThread()) {
                throw StloadException.usage("a lease was asked for by the reload that holds new leases back (from a"
                        + " flush hook?): it would wait for itself");
            }
            while (quiescer != null) {
                resumed.awaitUninterruptibly();
            }
            requireOpen();
            if (failure != null) {
                throw new StloadException(failure.kind(), failure.file(), failure.detail(), failure);
            }
            current.leases++;
            liveLeases++;
            return new Lease<>(this, current);
        } finally {
            lock.unlock();
        }
    }

    /** Called once per lease, by {@link Lease#close()}. */
    void release(Version<T> v) {
        List<Allocation<T>> unused;
        lock.lock();
        try {
            v.leases--;
            if (--liveLeases == 0) {
                idle.signalAll();
            }
            unused = dropIfUnused(v);
        } finally {
            lock.unlock();
        }
        free(unused);
    }

    /**
     * Lets a version go once nothing can reach it: not current (so no lease is granted on it again, and zero stays
     * zero), no lease live, and not the version a running reload reads from or writes over. Returns the allocations
     * no version holds any more, to be freed outside the lock. Requires the lock.
     */
    private List<Allocation<T>> dropIfUnused(Version<T> v) {
        if (v.dropped || v == current || v.leases > 0 || (updating != null && updating.from == v)) {
            return List.of();
        }
        v.dropped = true;
        List<Allocation<T>> unused = new ArrayList<>();
        for (Allocation<T> a : v.allocations()) {
            if (--a.versions == 0) {
                unused.add(a);
            }
        }
        return unused;
    }

    /**
     * Reloads a local checkpoint: {@link #reload(WeightSource, ReloadOptions)} of {@link WeightSource#path}.
     *
     * @param checkpoint the new version's checkpoint
     * @param how        beside or in place, whether to quiesce, the hooks, the staging bound
     * @return the outcome and the version current afterwards; a failure is a result, not an exception
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed
     */
    public ReloadResult reload(Path checkpoint, ReloadOptions how) {
        return reload(WeightSource.path(checkpoint), how);
    }

    /**
     * Opens {@code source} as the next version, reads what changed, and publishes it, or explains why not. The new
     * checkpoint must hold the serving version's tensor table (names, dtypes, shapes of what this rank holds), which
     * is checked from its headers before anything is read. Tensors whose bytes are unchanged (same recorded digest,
     * or same offsets of the same file version) are carried over, not read ({@link ReloadOptions.CarryOver}).
     * <ul>
     *   <li>Beside: the changed tensors load into new memory while the serving version keeps serving; that memory
     *   must fit the budget beside every version still held (checked before loading). Published at once, or after a
     *   quiesce and the flush hooks. On any failure the serving version stays current, untouched.</li>
     *   <li>In place: when the changed bytes fit the staging bound, they are read into host staging first, while
     *   readers keep reading; then new leases wait, live ones drain (quiesce timeout), the hooks run, the staged
     *   bytes are written over the serving ones, and leases resume on the new version. A failure before the first
     *   byte is overwritten (a read, the quiesce, a hook) leaves the serving version current and whole. When the
     *   changed bytes do not fit, they are written straight from the files once quiesced, and a failure after the
     *   first byte landed leaves the store failed ({@link Outcome#STORE_FAILED}): leases are refused with that
     *   failure until a reload succeeds, which then reads every tensor.</li>
     * </ul>
     * Only one reload runs at a time; another one asked for meanwhile returns {@link Outcome#ALREADY_RUNNING} at once.
     *
     * @param source the new version's source
     * @param how    beside or in place, whether to quiesce, the hooks, the staging bound, the load options
     * @return the outcome, the version current afterwards and what was read and carried over; a failure is a result,
     *         not an exception
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed, or closed during the reload, or an
     *                         argument is null
     */
    public ReloadResult reload(WeightSource source, ReloadOptions how) {
        if (source == null || how == null) {
            throw StloadException.usage("a reload needs a source and reload options, not null");
        }
        Claim<T> claim;
        lock.lock();
        try {
            requireOpen();
            if (updating != null) {
                Version<T> v = current;
                return new ReloadResult(Outcome.ALREADY_RUNNING, v.number, Optional.of(ErrorKind.Usage),
                        Optional.empty(), Optional.of("a reload is already running"), how.mode(), v.source,
                        ReloadDelta.NONE, 0, 0);
            }
            claim = new Claim<>(current);
            updating = claim;
        } finally {
            lock.unlock();
        }
        try {
            ReloadResult result = run(claim, source, how);
            LOG.log(System.Logger.Level.DEBUG, () -> "reload of " + source.name() + " (" + how.mode() + "): "
                    + result.outcome() + ", version " + result.version() + " current; read " + result.delta().tensorsRead()
                    + " tensor(s), carried over " + result.delta().tensorsCarried()
                    + result.message().map(m -> " (" + m + ")").orElse(""));
            return result;
        } finally {
            List<Allocation<T>> unused;
            lock.lock();
            try {
                unused = endClaim(claim);
            } finally {
                lock.unlock();
            }
            free(unused);
        }
    }

    /** Gives the update slot back, if this claim still holds it, and lets its version go if unused. Requires the lock. */
    private List<Allocation<T>> endClaim(Claim<T> claim) {
        if (updating != claim) {
            return List.of();
        }
        updating = null;
        return dropIfUnused(claim.from);
    }

    private ReloadResult run(Claim<T> claim, WeightSource source, ReloadOptions how) {
        long start = System.nanoTime();
        Version<T> serving = claim.from;
        LoadOptions options = how.loadOptions().orElse(serving.options);
        Checkpoint cp;
        try {
            cp = opened(source);
        } catch (StloadException e) {
            return failed(claim, Outcome.LOAD_FAILED, e, e.getMessage(), how, ReloadDelta.NONE, start, 0);
        }
        try (cp) {
            Map<String, TensorSlice> next;
            try {
                Planner.requireStrategyFits(cp, options.strategy()); // planned below only if something changed
                next = slicesOf(cp, options);
            } catch (StloadException e) {
                return failed(claim, Outcome.LOAD_FAILED, e, e.getMessage(), how, ReloadDelta.NONE, start, 0);
            }
            Optional<String> difference = LayoutCheck.difference(serving.slices, next);
            if (difference.isPresent()) {
                StloadException e = new StloadException(ErrorKind.Unsupported, null, source.name() + ": "
                        + difference.get());
                return failed(claim, Outcome.LAYOUT_CHANGED, e, e.getMessage(), how, ReloadDelta.NONE, start, 0);
            }
            boolean broken;
            lock.lock();
            try {
                broken = failure != null;
            } finally {
                lock.unlock();
            }
            Reason everything = broken ? Reason.STORE_FAILED
                    : how.carryOver() == ReloadOptions.CarryOver.NONE ? Reason.CARRY_OVER_OFF : null;
            Changes changes = Changes.decide(serving.slices, serving.remote, next, cp.remote() != null, everything);
            List<String> toRead = changes.read();
            LoadPlan plan;
            try {
                plan = toRead.isEmpty() ? null
                        : planner.plan(cp, options.withTensors(TensorFilter.names(toRead)), memory.profile());
            } catch (StloadException e) {
                return failed(claim, Outcome.LOAD_FAILED, e, e.getMessage(), how, ReloadDelta.NONE, start, 0);
            }
            Next n = new Next(cp, SourceVersion.of(source, cp), options, next, changes, plan, start);
            return how.mode() == Mode.IN_PLACE ? inPlace(claim, n, how) : beside(claim, n, how);
        }
    }

    /** What this rank holds of the checkpoint under {@code options}, as the planner slices it. */
    private static Map<String, TensorSlice> slicesOf(Checkpoint cp, LoadOptions options) {
        RankSlices.Matched matched = RankSlices.match(cp, options.partitioning());
        if (!options.tensors().isAll()) {
            options.tensors().requireEachMatches(cp.tensors().keySet());
            matched = matched.only(options.tensors());
        }
        return matched.slices(options.partitioning().rank());
    }

    private ReloadResult beside(Claim<T> claim, Next n, ReloadOptions how) {
        Version<T> serving = claim.from;
        long needed = n.plan() == null ? 0 : memory.bytesFor(n.plan());
        long inUse = memoryBytes();
        if (inUse + needed > budgetBytes) {
            StloadException e = new StloadException(ErrorKind.OutOfMemory, null, "the new version needs " + needed
                    + " bytes while " + inUse + " are held by the versions in use (an allocation is held whole while"
                    + " any tensor in it is served; a reload without carry-over packs them again); the memory budget"
                    + " is " + budgetBytes);
            return failed(claim, Outcome.OVER_BUDGET, e, e.detail(), how, n.changes().delta(n.slices(), 0, 0), 0, 0);
        }
        Allocation<T> fresh = null;
        if (n.plan() != null) {
            try {
                fresh = new Allocation<>(memory.load(n.plan()));
            } catch (RuntimeException | Error e) { // the caller's allocator may throw anything
                StloadException se = ours(e, "loading into " + memory.describe());
                return failed(claim, Outcome.LOAD_FAILED, se, se.getMessage(), how, ReloadDelta.NONE, n.start(), 0);
            }
            lock.lock();
            try {
                held.add(fresh);
            } finally {
                lock.unlock();
            }
        }
        Map<String, T> tensors = new LinkedHashMap<>();
        Map<String, Allocation<T>> owners = new LinkedHashMap<>();
        for (String name : n.slices().keySet()) {
            boolean carried = n.changes().carried(name);
            tensors.put(name, carried ? serving.tensors.get(name) : fresh.buffers.tensors().get(name));
            owners.put(name, carried ? serving.owners.get(name) : fresh);
        }
        Version<T> next = new Version<>(serving.number + 1, tensors, memory, n.slices(), owners, n.source(),
                n.options(), n.checkpoint().remote() != null);
        ReloadDelta delta = n.changes().delta(n.slices(), fresh == null ? 0 : fresh.buffers.report().bytesRead(), 0);
        double loadSeconds = seconds(n.start());
        if (!how.quiesce()) {
            return publish(claim, next, fresh, how, delta, loadSeconds, 0);
        }
        long quiesceStart = System.nanoTime();
        Optional<ReloadResult> stopped = quiesceAndFlush(claim, fresh, how, delta, loadSeconds, quiesceStart);
        if (stopped.isPresent()) {
            return stopped.get();
        }
        return publish(claim, next, fresh, how, delta, loadSeconds, seconds(quiesceStart));
    }

    private ReloadResult inPlace(Claim<T> claim, Next n, ReloadOptions how) {
        Version<T> serving = claim.from;
        long stagingBytes = n.plan() == null ? 0 : stagingBytes(n.plan());
        Staged staged = null;
        if (n.plan() != null && stagingBytes <= how.stagingBytes() && stagingFits(n.plan(), stagingBytes)) {
            try {
                staged = stage(n.plan());
            } catch (RuntimeException | Error e) {
                StloadException se = ours(e, "staging the changed tensors");
                return failed(claim, Outcome.LOAD_FAILED, se, se.getMessage(), how, ReloadDelta.NONE, n.start(), 0);
            }
        }
        try {
            long fromStorage = staged == null ? 0 : staged.report().bytesRead();
            long stagedBytes = staged == null ? 0 : stagingBytes - readBufferBytes(n.plan());
            ReloadDelta stagedDelta = n.changes().delta(n.slices(), fromStorage, stagedBytes);
            double loadSeconds = seconds(n.start());
            long quiesceStart = System.nanoTime();
            Optional<ReloadResult> stopped = quiesceAndFlush(claim, null, how, stagedDelta, loadSeconds, quiesceStart);
            if (stopped.isPresent()) {
                return stopped.get();
            }
            AtomicBoolean overwriting = new AtomicBoolean();
            try {
                if (staged != null) {
                    List<StoreMemory.Write<T>> writes = new ArrayList<>();
                    for (String name : n.plan().slices().keySet()) {
                        writes.add(new StoreMemory.Write<>(serving.tensors.get(name), staged.at().get(name)));
                    }
                    memory.write(writes, () -> overwriting.set(true));
                } else if (n.plan() != null) {
                    LoadReport r = memory.overwrite(n.plan(), serving.tensors, () -> overwriting.set(true));
                    fromStorage = r.bytesRead();
                }
            } catch (RuntimeException | Error e) {
                StloadException se = ours(e, "writing over " + memory.describe());
                if (!overwriting.get()) {
                    return rollBack(claim, null, Outcome.LOAD_FAILED, se, se.getMessage(), how, stagedDelta,
                            loadSeconds, seconds(quiesceStart));
                }
                return storeFailed(claim, se, how, stagedDelta, loadSeconds, seconds(quiesceStart));
            }
            // Same memory, new bytes: the new version holds the serving version's allocations.
            Version<T> next = new Version<>(serving.number + 1, serving.tensors, memory, n.slices(), serving.owners,
                    n.source(), n.options(), n.checkpoint().remote() != null);
            ReloadDelta delta = n.changes().delta(n.slices(), fromStorage, stagedBytes);
            return publish(claim, next, null, how, delta, loadSeconds, seconds(quiesceStart));
        } finally {
            if (staged != null) {
                staged.arena().close();
            }
        }
    }

    /** The changed tensors read into host memory, each at its own 64-byte-aligned place. */
    private record Staged(Arena arena, Map<String, MemorySegment> at, LoadReport report) {
    }

    /**
     * Host memory a reload in place takes to stage a plan's slices: the slices, packed ({@link PackedSlices}), and the
     * engine's read buffers while it reads them (at most one direct block per I/O thread).
     */
    static long stagingBytes(LoadPlan plan) {
        return new PackedSlices(plan).bytes() + readBufferBytes(plan);
    }

    /**
     * False where staging would take more than half the memory a cgroup can still give the process: past that room
     * the kernel kills the server instead of failing an allocation, so the changed bytes go straight from the files.
     */
    private static boolean stagingFits(LoadPlan plan, long stagingBytes) {
        long room = plan.host().anonymousRoomBytes();
        return room < 0 || stagingBytes <= room / 2;
    }

    /** The most host memory the engine's own read buffers take during a load of {@code plan}. */
    static long readBufferBytes(LoadPlan plan) {
        return (long) plan.options().threads() * plan.options().thresholds().directBlock();
    }

    private Staged stage(LoadPlan plan) {
        Arena arena = Arena.ofShared();
        try {
            Map<String, MemorySegment> at = new PackedSlices(plan).allocate(plan, arena, "staging the changed tensors");
            LoadReport report = loader.execute(plan, new CallerBuffers(s -> at.get(s.name())), LoadListener.NONE);
            return new Staged(arena, at, report);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Quiesces and runs the flush hooks; on a timeout or a failing hook, rolls back (freeing {@code fresh}) and returns
     * why. Empty when the store is quiesced, the hooks have run, and the caller may go on.
     */
    private Optional<ReloadResult> quiesceAndFlush(Claim<T> claim, Allocation<T> fresh, ReloadOptions how,
                                                   ReloadDelta delta, double loadSeconds, long quiesceStart) {
        Optional<String> notIdle = quiesce(how.quiesceTimeout());
        if (notIdle.isPresent()) {
            return Optional.of(rollBack(claim, fresh, Outcome.QUIESCE_TIMED_OUT,
                    new StloadException(ErrorKind.WaitTimeout, null, notIdle.get()), notIdle.get(), how, delta,
                    loadSeconds, seconds(quiesceStart)));
        }
        long from = claim.from.number;
        for (FlushHook hook : how.flushHooks()) {
            try {
                hook.flush(from, from + 1);
            } catch (Throwable e) {
                // Whatever the caller's hook throws, assertion errors included, must roll back: a store left
                // quiesced would hold every reader forever.
                StloadException failure = StloadException.callback("flush hook failed", e);
                return Optional.of(rollBack(claim, fresh, Outcome.FLUSH_FAILED, failure, failure.detail(), how, delta,
                        loadSeconds, seconds(quiesceStart)));
            }
        }
        return Optional.empty();
    }

    /**
     * Stops new leases and waits for the live ones to close. Returns why it gave up, or empty once no lease is
     * live; then none is granted until {@link #publish}, {@link #rollBack} or {@link #storeFailed} resumes.
     */
    private Optional<String> quiesce(Duration timeout) {
        lock.lock();
        try {
            long left = timeout.toNanos(); // at most a day (ReloadOptions): nothing between here and resume() throws
            quiescer = Thread.currentThread();
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

    /**
     * Makes {@code next} current, ends any quiesce and gives the update slot back, in one step under the lock: no
     * lease sees a mix, and no reload can start from the version being replaced.
     */
    private ReloadResult publish(Claim<T> claim, Version<T> next, Allocation<T> fresh, ReloadOptions how,
                                 ReloadDelta delta, double loadSeconds, double quiesceSeconds) {
        Version<T> old = claim.from;
        List<Allocation<T>> unused = new ArrayList<>();
        boolean closedMeanwhile;
        lock.lock();
        try {
            resume();
            closedMeanwhile = closed;
            if (!closedMeanwhile) {
                if (updating != claim || current != old) {
                    throw new IllegalStateException("a reload publishing version " + next.number
                            + " no longer holds the store's update slot");
                }
                for (Allocation<T> a : next.allocations()) {
                    a.versions++;
                }
                current = next;
                failure = null;
            }
            unused.addAll(endClaim(claim)); // lets the old version go now if no lease holds it
        } finally {
            lock.unlock();
        }
        if (closedMeanwhile) {
            if (fresh != null) {
                unused.add(fresh); // never published, so never leased
            }
            free(unused);
            throw StloadException.usage("the weight store was closed during the reload");
        }
        free(unused);
        return new ReloadResult(Outcome.RELOADED, next.number, Optional.empty(), Optional.empty(), Optional.empty(),
                how.mode(), next.source, delta, loadSeconds, quiesceSeconds);
    }

    private ReloadResult rollBack(Claim<T> claim, Allocation<T> fresh, Outcome outcome, StloadException e,
                                  String why, ReloadOptions how, ReloadDelta delta, double loadSeconds,
                                  double quiesceSeconds) {
        List<Allocation<T>> unused = new ArrayList<>();
        long version;
        lock.lock();
        try {
            resume();
            version = claim.from.number;
            unused.addAll(endClaim(claim));
        } finally {
            lock.unlock();
        }
        if (fresh != null) {
            unused.add(fresh); // never published, so never leased
        }
        free(unused);
        return new ReloadResult(outcome, version, Optional.of(e.kind()), Optional.of(causeOf(e)),
                Optional.of(why + "; version " + version + " stays current"), how.mode(), claim.from.source, delta,
                loadSeconds, quiesceSeconds);
    }

    /** In place, a failure after the first byte was overwritten: leases are refused with it until a reload succeeds. */
    private ReloadResult storeFailed(Claim<T> claim, StloadException e, ReloadOptions how, ReloadDelta delta,
                                     double loadSeconds, double quiesceSeconds) {
        String why = "a reload in place from " + delta.tensorsRead() + " changed tensor(s) failed after it began "
                + "overwriting the weights of version " + claim.from.number + ", which are now neither version ("
                + e.getMessage() + "); reads are refused until a reload succeeds";
        List<Allocation<T>> unused;
        lock.lock();
        try {
            failure = new StloadException(e.kind(), e.file(), why, e);
            resume();
            unused = endClaim(claim);
        } finally {
            lock.unlock();
        }
        free(unused);
        return new ReloadResult(Outcome.STORE_FAILED, claim.from.number, Optional.of(e.kind()), Optional.of(causeOf(e)),
                Optional.of(why), how.mode(), claim.from.source, delta, loadSeconds, quiesceSeconds);
    }

    /** A failure before anything was quiesced or published: the serving version stays current. */
    private ReloadResult failed(Claim<T> claim, Outcome outcome, StloadException e, String message, ReloadOptions how,
                                ReloadDelta delta, long start, double quiesceSeconds) {
        return new ReloadResult(outcome, claim.from.number, Optional.of(e.kind()), Optional.of(causeOf(e)),
                Optional.of(message), how.mode(), claim.from.source, delta, start == 0 ? 0 : seconds(start),
                quiesceSeconds);
    }

    /** The exception behind a failure: the caller's own where the failure is a callback's, else the loader's. */
    private static Throwable causeOf(StloadException e) {
        return e.kind() == ErrorKind.Callback && e.getCause() != null ? e.getCause() : e;
    }

    /** A failure as the loader's exception: its own kept, anything else from the memory (the caller's code) a callback. */
    private static StloadException ours(Throwable e, String what) {
        return e instanceof StloadException se ? se : StloadException.callback(what + " failed", e);
    }

    /** Requires the lock. */
    private void resume() {
        quiescer = null;
        resumed.signalAll();
    }

    /** Reads {@code field} of the current version under the lock; the store must be open. */
    private <R> R ofCurrent(Function<Version<T>, R> field) {
        return locked(() -> {
            requireOpen();
            return field.apply(current);
        });
    }

    /** Reads state under the lock, which every change of it holds. */
    private <R> R locked(Supplier<R> read) {
        lock.lock();
        try {
            return read.get();
        } finally {
            lock.unlock();
        }
    }

    /**
     * The store's state in one reading, as a health report wants it: each accessor alone takes the lock once, so a
     * reload published between two calls would pair one version's number with the next one's source.
     *
     * @param version     the current version's number
     * @param source      where the current version came from
     * @param memoryBytes memory held by every version not yet freed ({@link #memoryBytes()})
     * @param liveLeases  leases not yet closed
     * @param quiescing   whether a quiesced reload is holding back new leases
     * @param failure     why leases are refused ({@link #failure()}), or empty
     */
    public record Status(long version, SourceVersion source, long memoryBytes, int liveLeases, boolean quiescing,
                         Optional<StloadException> failure) {
        /**
         * The state, as read.
         *
         * @throws StloadException {@link ErrorKind#Usage} if {@code source} or {@code failure} is null
         */
        public Status {
            StloadException.requireNonNull(source, "a status names the current version's source, not null");
            StloadException.requireNonNull(failure, "a status's failure is empty when there is none, not null");
        }
    }

    /**
     * The store's state, read at once.
     *
     * @return its version, source, memory, leases, quiesce and failure, all of one moment
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed
     */
    public Status status() {
        return locked(() -> {
            requireOpen();
            return new Status(current.number, current.source, heldBytes(), liveLeases, quiescer != null,
                    Optional.ofNullable(failure));
        });
    }

    /**
     * The current version's number.
     *
     * @return 1 for the first load, one more for each published reload
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed
     */
    public long version() {
        return ofCurrent(v -> v.number);
    }

    /**
     * Where the current version came from.
     *
     * @return its source and the version of it that was read
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed
     */
    public SourceVersion source() {
        return ofCurrent(v -> v.source);
    }

    /**
     * How the current version was loaded; the next reload uses these unless it gives its own.
     *
     * @return the load options (strategy, threads, rank and partition rules) of the current version
     * @throws StloadException {@link ErrorKind#Usage} when the store is closed
     */
    public LoadOptions options() {
        return ofCurrent(v -> v.options);
    }

    /**
     * Why leases are refused: a reload in place failed after it began overwriting the weights.
     *
     * @return the failure leases are refused with, or empty while the weights are whole
     */
    public Optional<StloadException> failure() {
        return locked(() -> Optional.ofNullable(failure));
    }

    /**
     * Leases not yet closed, over all versions.
     *
     * @return the count
     */
    public int liveLeases() {
        return locked(() -> liveLeases);
    }

    /**
     * Whether a quiesced reload is holding back new leases right now.
     *
     * @return true while it is
     */
    public boolean quiescing() {
        return locked(() -> quiescer != null);
    }

    /**
     * Memory held by every version not yet freed (of the store memory's kind): during a reload beside, old and new
     * together, a tensor carried over counted once. Host staging of a reload in place is not counted: the staging
     * bound limits it.
     *
     * @return the bytes
     */
    public long memoryBytes() {
        return locked(this::heldBytes);
    }

    /** Requires the lock. */
    private long heldBytes() {
        return held.stream().mapToLong(a -> a.buffers.bytes()).sum();
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
     * Where the store keeps its versions.
     *
     * @return the memory it was opened with
     */
    public StoreMemory<T> memory() {
        return memory;
    }

    /**
     * Stops granting leases. The current version is freed now if unleased, otherwise when its last lease closes
     * (or a running reload ends); leases already granted stay valid until then.
     */
    @Override
    public void close() {
        List<Allocation<T>> unused;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            Version<T> last = current;
            current = null;
            // With current = null no lease can be granted on it, so zero stays zero.
            unused = dropIfUnused(last);
        } finally {
            lock.unlock();
        }
        free(unused);
    }

    /** Requires the lock. */
    private void requireOpen() {
        if (closed) {
            throw StloadException.usage("the weight store is closed");
        }
    }

    /** Frees allocations no version holds; a failure to free is logged, never thrown at the reader who let go. */
    private void free(List<Allocation<T>> unused) {
        for (Allocation<T> a : unused) {
            try {
                a.buffers.close();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "freeing a version's memory failed", e);
            }
            lock.lock();
            try {
                held.remove(a);
            } finally {
                lock.unlock();
            }
        }
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }
}
