package io.stload.load;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.ByteRange;
import io.stload.plan.DecisionRule;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A sequential pass ahead of lazy reads. A lazily read checkpoint faults its pages in as the model first touches
 * them, a read-ahead's worth at a time, in the order the model runs, not the file's; on a cold disk that is the slow
 * way. Where AUTO would give a load of the same options a pass of its own ({@code prefetch} or {@code direct}, and
 * the page cache can hold the bytes), one background thread reads the bytes the options select into the page
 * cache, in large requests, tensor by tensor in the order of their names with numbers compared as numbers (layer 2
 * before layer 10: the order a model's layers run in), while the caller goes on. Nothing is read where the pages are
 * in memory already or the read is small (tmpfs, a warm cache), where the cache cannot hold them or the resident
 * set is bounded (the lazy reads then fault as before), or for object storage. It only warms the page cache: the
 * lazy reads stay correct whatever it does, and it stops at the first error (a file changed under it: the lazy
 * read that meets the change reports it).
 */
public final class ReadAhead implements AutoCloseable {
    /** Bytes per populate call: the most a {@link #close} waits for. */
    private static final long WINDOW = 16L << 20;
    private static final Pattern NUMBER = Pattern.compile("\\d+");

    private final AtomicLong bytesRead = new AtomicLong();
    private final CountDownLatch planned = new CountDownLatch(1);
    private final CountDownLatch done = new CountDownLatch(1);
    private final Thread thread;
    private volatile LoadPlan plan;
    private volatile List<Piece> pieces = List.of();
    private volatile boolean stopped;
    private volatile StloadException failure;

    private record Piece(Header file, String tensor, long from, long to) {
    }

    /** Plans on the pass's own thread too: a model's first token should not wait for the decision either. */
    private ReadAhead(Supplier<LoadPlan> planner) {
        thread = Thread.ofPlatform().daemon().name("stload-read-ahead").start(() -> run(planner));
    }

    /**
     * Starts the pass on a background thread: it plans {@code options} for {@code checkpoint} and, where a file's
     * decision asks for a pass, reads its selected bytes into the page cache.
     *
     * @param checkpoint an open checkpoint, read lazily by the caller; close this before it
     * @param options    what the caller will read (tensors, rank) and the heuristic's settings
     * @return the pass, running
     */
    public static ReadAhead start(Checkpoint checkpoint, LoadOptions options) {
        return new ReadAhead(() -> new Planner().plan(checkpoint, options));
    }

    /** The pass over a plan's files. */
    static ReadAhead of(LoadPlan plan) {
        return new ReadAhead(() -> plan);
    }

    /**
     * Waits for the decision and returns the plan the pass follows: each file's decision and why, and the bytes it
     * selects.
     *
     * @return the plan
     * @throws StloadException as {@link Planner#plan}, when planning failed
     */
    public LoadPlan plan() {
        awaitPlanned();
        if (plan == null) {
            throw failure;
        }
        return plan;
    }

    /** {@return the bytes the pass reads, once planned: zero where no file's decision asks for one} */
    public long bytes() {
        awaitPlanned();
        return pieces.stream().mapToLong(p -> p.to - p.from).sum();
    }

    /** {@return the bytes read into the page cache so far} */
    public long bytesRead() {
        return bytesRead.get();
    }

    /**
     * Waits for the pass to end: every byte read, stopped, or failed.
     *
     * @param timeout the most to wait
     * @return whether it ended in time
     * @throws InterruptedException if the caller is interrupted
     */
    public boolean await(Duration timeout) throws InterruptedException {
        return done.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** {@return the error that stopped the pass early (planning included), if one did} */
    public Optional<StloadException> failure() {
        return Optional.ofNullable(failure);
    }

    /**
     * Stops the pass and waits for its thread, which ends after the planning or the window it is at (at most 16 MiB).
     */
    @Override
    public void close() {
        stopped = true;
        joinUninterruptibly(thread);
    }

    private void awaitPlanned() {
        boolean interrupted = false;
        while (planned.getCount() > 0) {
            try {
                planned.await();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static void joinUninterruptibly(Thread thread) {
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** A file's selected ranges cut at its tensors' bounds, every piece in the order of its tensor's name. */
    private static List<Piece> pieces(LoadPlan plan) {
        Map<Header, List<TensorRef>> byFile = new IdentityHashMap<>();
        for (TensorRef t : plan.checkpoint().tensors().values()) {
            byFile.computeIfAbsent(t.file(), f -> new ArrayList<>()).add(t);
        }
        List<Piece> pieces = new ArrayList<>();
        for (FilePlan f : plan.files()) {
            if (!wantsPass(f)) {
                continue;
            }
            for (TensorRef t : byFile.getOrDefault(f.file(), List.of())) {
                long start = t.fileOffset();
                long end = start + t.info().byteSize();
                for (ByteRange r : f.reads()) {
                    long from = Math.max(start, r.from());
                    long to = Math.min(end, r.to());
                    if (from < to) {
                        pieces.add(new Piece(f.file(), t.name(), from, to));
                    }
                }
            }
        }
        pieces.sort(Comparator.comparing(Piece::tensor, ReadAhead::compareNatural).thenComparingLong(Piece::from));
        List<Piece> runs = new ArrayList<>(); // neighbours in the file too are read as one
        for (Piece p : pieces) {
            Piece last = runs.isEmpty() ? null : runs.getLast();
            if (last != null && last.file == p.file && last.to == p.from) {
                runs.set(runs.size() - 1, new Piece(p.file, last.tensor, last.from, p.to));
            } else {
                runs.add(p);
            }
        }
        return runs;
    }

    /** A pass of its own for a local file whose page cache can hold it; none for mmap, pressure or object storage. */
    private static boolean wantsPass(FilePlan f) {
        return f.strategy() != LoadStrategy.MMAP && f.strategy() != LoadStrategy.S3
                && f.rule() != DecisionRule.CACHE_TOO_SMALL && f.rule() != DecisionRule.RESIDENT_LIMIT
                && !f.reads().isEmpty();
    }

    /** Names compared with their runs of digits as numbers: {@code layers.2} before {@code layers.10}. */
    static int compareNatural(String a, String b) {
        Matcher ma = NUMBER.matcher(a);
        Matcher mb = NUMBER.matcher(b);
        int ia = 0;
        int ib = 0;
        while (true) {
            boolean na = ma.find(ia);
            boolean nb = mb.find(ib);
            int c = a.substring(ia, na ? ma.start() : a.length()).compareTo(b.substring(ib, nb ? mb.start() : b.length()));
            if (c != 0 || !na || !nb) {
                return c != 0 ? c : Boolean.compare(na, nb);
            }
            String da = ma.group().replaceFirst("^0+(?=.)", "");
            String db = mb.group().replaceFirst("^0+(?=.)", "");
            c = da.length() != db.length() ? Integer.compare(da.length(), db.length()) : da.compareTo(db);
            if (c != 0) {
                return c;
            }
            ia = ma.end();
            ib = mb.end();
        }
    }

    private void run(Supplier<LoadPlan> planner) {
        try {
            LoadPlan p = planner.get();
            pieces = pieces(p);
            plan = p;
        } catch (RuntimeException e) {
            failure = e instanceof StloadException se ? se
                    : new StloadException(ErrorKind.Internal, null, "read ahead: " + e, e);
        } finally {
            planned.countDown();
        }
        try {
            if (plan != null) {
                read();
            }
        } finally {
            done.countDown();
        }
    }

    private void read() {
        NativeAccess os = NativeAccess.get();
        try (Arena arena = Arena.ofConfined()) {
            Map<Header, MemorySegment> mappings = new IdentityHashMap<>();
            for (Piece p : pieces) {
                MemorySegment file = mappings.computeIfAbsent(p.file, h -> h.map(arena));
                for (long off = p.from; off < p.to && !stopped; off += WINDOW) {
                    long length = Math.min(WINDOW, p.to - off);
                    try {
                        os.populate(file.asSlice(off, length));
                    } catch (IOException e) {
                        throw new StloadException(ErrorKind.Io, p.file.file(), "read ahead: " + e.getMessage(), e);
                    }
                    bytesRead.addAndGet(length);
                }
                if (stopped) {
                    break;
                }
            }
        } catch (StloadException e) {
            failure = e;
        }
    }
}
