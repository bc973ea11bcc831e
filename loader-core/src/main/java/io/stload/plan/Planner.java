package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.RemoteFolder;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.host.MemoryHeadroom;
import io.stload.nativeio.FsStat;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.AccessDeniedException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Measures the inputs of the AUTO heuristic and turns a checkpoint and options into a {@link LoadPlan}: per file,
 * the strategy, the rule that chose it and its reasons, and the byte ranges this rank reads. Planning reads
 * headers and file facts only, never tensor bytes. A planner holds no state between plans: one instance may
 * plan from several threads at once.
 */
public final class Planner {
    /** mincore samples per file: enough to tell cold from warm, cheap on a 100 GiB file. */
    private static final int RESIDENCY_SAMPLE_PAGES = 4096;
    private static final System.Logger LOG = System.getLogger("io.stload.plan");
    /** The reason of a strategy the options name rather than leave to the heuristic. */
    static final String FORCED_REASON = "forced by the load strategy option";

    private final NativeAccess os;

    /** A planner whose system calls go through {@code os}; tests inject faults this way. */
    Planner(NativeAccess os) {
        this.os = os;
    }

    /** A planner using the platform's native calls, or their pure-Java fallback where native access is off. */
    public Planner() {
        this(NativeAccess.get());
    }

    /**
     * A plan for a host destination, which takes the rank's bytes.
     *
     * @param checkpoint the opened checkpoint; the plan refers to its headers
     * @param options    strategy, threads, order, tensors and the rank's partitioning
     * @return the plan
     * @throws StloadException {@link ErrorKind#Usage} for options this checkpoint cannot take (a strategy for
     *                         the other kind of storage, a tensor pattern matching nothing, a resident limit the load
     *                         cannot keep); {@link ErrorKind#Unsupported} for a split the tensor cannot take (a dimension
     *                         that does not divide under a rule that says it must, a cut inside a byte, a tensor of
     *                         unknown dtype); {@link ErrorKind#Io} for a shard this process may not read or a file that
     *                         changed since its header was read
     */
    public LoadPlan plan(Checkpoint checkpoint, LoadOptions options) {
        return plan(checkpoint, options, DestinationProfile.HOST);
    }

    /**
     * A plan whose AUTO decisions count what {@code destination} takes from the memory the page cache needs.
     *
     * @param checkpoint  the opened checkpoint; the plan refers to its headers
     * @param options     strategy, threads, order, tensors and the rank's partitioning
     * @param destination how the destination uses memory ({@code Destination.profile()})
     * @return the plan
     * @throws StloadException as {@link #plan(Checkpoint, LoadOptions)}
     */
    public LoadPlan plan(Checkpoint checkpoint, LoadOptions options, DestinationProfile destination) {
        if (checkpoint == null || options == null || destination == null) {
            throw StloadException.usage("a plan needs a checkpoint, load options and a destination profile, not null");
        }
        requireOpen(checkpoint);
        requireStrategyFits(checkpoint, options.strategy());
        long start = System.nanoTime();
        HostFacts host = hostFacts(MemoryHeadroom.read(), options);
        Partitioning partitioning = options.partitioning();
        // Only this rank is sliced; other ranks' bytes are computed if a caller asks (plan prints them).
        RankSlices.Matched matched = selected(RankSlices.match(checkpoint, partitioning), checkpoint,
                options.tensors());
        Map<String, TensorSlice> slices = matched.slices(partitioning.rank());
        long landedBytes = RankSlices.bytes(slices);
        List<Long> bytesPerRank = new RankBytes(matched, partitioning.worldSize(), partitioning.rank(), landedBytes);
        Map<Header, List<ByteRange>> reads = new IdentityHashMap<>();
        long maxGap = maxGap(checkpoint, options);
        long rankBytes = 0;
        for (Header h : checkpoint.files()) {
            reads.put(h, ReadRanges.of(RankSlices.inFile(h, slices), maxGap));
            rankBytes += ReadRanges.bytes(reads.get(h));
        }
        List<FilePlan> files = new ArrayList<>();
        for (Header h : checkpoint.files()) {
            long bytes = ReadRanges.bytes(reads.get(h));
            if (checkpoint.remote() != null) {
                files.add(remoteFile(checkpoint.remote(), h, bytes, reads.get(h), maxGap));
                continue;
            }
            FileFacts facts = measure(h, bytes);
            FileDecision decision = options.strategy() == LoadStrategy.AUTO
                    ? StrategyHeuristic.decide(facts, host, rankBytes, landedBytes, destination,
                            options.thresholds(), options.residentLimitBytes())
                    : new FileDecision(options.strategy(), DecisionRule.FORCED,
                            List.of(FORCED_REASON));
            files.add(new FilePlan(h, facts, decision, reads.get(h)));
            LOG.log(System.Logger.Level.DEBUG, () -> h.file() + ": " + decision.strategy() + " because "
                    + String.join("; ", decision.reasons()) + (facts.directSupported() ? "" : " (O_DIRECT refused)"));
        }
        requireWithinResidentLimit(files, destination, landedBytes, host, options, checkpoint);
        // Only what this rank holds: the consumer never asks for another rank's experts.
        List<TensorRef> order = new ArrayList<>(checkpoint.tensors().values().stream()
                .filter(t -> slices.containsKey(t.name())).toList());
        if (options.order() == ReadOrder.SHUFFLED) {
            Collections.shuffle(order, new Random(options.seed()));
        }
        return new LoadPlan(checkpoint, options, host, files, order, slices, bytesPerRank, System.nanoTime() - start);
    }

    /** A plan borrows its checkpoint: a closed one is the caller's misuse. */
    private static void requireOpen(Checkpoint checkpoint) {
        if (!checkpoint.isOpen()) {
            throw StloadException.usage("the checkpoint at " + checkpoint.path() + " is closed; plan an open one");
        }
    }

    /**
     * Refuses a strategy that cannot read where the checkpoint lives. Every plan checks it first; a reload that finds
     * nothing changed, and so makes no plan, checks it too: the same options get the same answer.
     *
     * @param checkpoint the checkpoint
     * @param strategy   the strategy the options name
     * @throws StloadException {@link ErrorKind#Usage} for {@code s3} and local files, or a local strategy and object
     *                         storage; if either is null
     */
    public static void requireStrategyFits(Checkpoint checkpoint, LoadStrategy strategy) {
        StloadException.requireNonNull(checkpoint, "a strategy is checked against a checkpoint, not null");
        StloadException.requireNonNull(strategy, "a null strategy fits no checkpoint");
        if (checkpoint.remote() == null && strategy == LoadStrategy.S3) {
            throw StloadException.usage("strategy s3 reads object storage; " + checkpoint.path()
                    + " is a local checkpoint");
        }
        if (checkpoint.remote() != null && strategy != LoadStrategy.AUTO && strategy != LoadStrategy.S3) {
            throw StloadException.usage("strategy " + strategy.flagValue() + " reads local files; "
                    + checkpoint.remote().location() + " is read with s3");
        }
    }

    /**
     * The host as measured; under a resident limit, its headroom is at most the limit: the memory a destination's
     * default budget is a share of. The anonymous room is what is left beside the load's own threads.
     */
    private HostFacts hostFacts(MemoryHeadroom headroom, LoadOptions options) {
        long available = headroom.availableBytes();
        long residentLimit = options.residentLimitBytes();
        long room = headroom.anonymousRoomBytes(options.threads());
        if (residentLimit <= 0) {
            return new HostFacts(available, headroom.describe(), os.fallbackReason(), room);
        }
        return new HostFacts(available < 0 ? residentLimit : Math.min(available, residentLimit), headroom.describe()
                + ", capped by the resident limit of " + Sizes.human(residentLimit), os.fallbackReason(), room);
    }

    /**
     * Under a resident limit, no file is read through a mapping (its pages would count in the resident set), and what
     * the destination holds plus the direct reads' buffers (a block per I/O thread, and a page of alignment at each
     * end) fits the limit.
     */
    private static void requireWithinResidentLimit(List<FilePlan> files, DestinationProfile destination,
                                                   long landedBytes, HostFacts host, LoadOptions options,
                                                   Checkpoint checkpoint) {
        long limit = options.residentLimitBytes();
        if (limit <= 0) {
            return;
        }
        long buffers = 0;
        for (FilePlan f : files) {
            switch (f.strategy()) {
                case MMAP, PREFETCH -> throw new StloadException(ErrorKind.Usage, null, "strategy "
                        + f.strategy().flagValue() + " maps the files, and a mapping's pages count in the resident "
                        + "set the resident limit of " + Sizes.human(limit) + " bounds: use direct, or auto");
                case DIRECT -> buffers = Math.max(buffers, options.threads()
                        * (options.thresholds().directBlock() + 2 * 4096));
                case S3 -> buffers = Math.max(buffers, checkpoint.remote().concurrency()
                        * (checkpoint.remote().partBytes() + 2 * 4096));
                default -> { }
            }
        }
        long held = destination.heldBytes(landedBytes, host);
        if (held + buffers > limit) {
            throw new StloadException(ErrorKind.Usage, null, "the load would hold " + Sizes.human(held + buffers)
                    + " (" + Sizes.human(held) + " in the destination, " + destination.what() + ", and "
                    + Sizes.human(buffers) + " of read buffers), beyond the resident limit of " + Sizes.human(limit)
                    + ": stream it with a smaller budget, use fewer threads or a smaller direct block, or raise the"
                    + " limit");
        }
    }

    /**
     * Each rank's slices of only the tensors the filter takes. Ranks are dealt their experts from the whole
     * checkpoint first, so a subset never moves an expert to another rank.
     */
    private static RankSlices.Matched selected(RankSlices.Matched matched, Checkpoint checkpoint,
                                               TensorFilter filter) {
        if (filter.isAll()) {
            return matched;
        }
        filter.requireEachMatches(checkpoint.tensors().keySet());
        return matched.only(filter);
    }

    /**
     * The largest gap between a rank's ranges that is read through. Over the network a gap read through is paid
     * in bytes on the wire, so a remote folder's bound applies (the option can only lower it).
     */
    private static long maxGap(Checkpoint checkpoint, LoadOptions options) {
        long local = options.thresholds().maxGapBytes();
        return checkpoint.remote() == null ? local : Math.min(local, checkpoint.remote().maxGapBytes());
    }

    /** A file in object storage has one strategy: ranged GETs, shaped by the folder's part size and concurrency. */
    private static FilePlan remoteFile(RemoteFolder folder, Header h, long bytes, List<ByteRange> reads, long maxGap) {
        FileFacts facts = new FileFacts(h.file(), Filesystem.UNKNOWN, bytes, -1, false);
        List<String> reasons = new ArrayList<>(folder.readReasons());
        reasons.add("gaps over " + Sizes.human(maxGap) + " skipped (a separate GET costs less than reading them)");
        return new FilePlan(h, facts, new FileDecision(LoadStrategy.S3, DecisionRule.REMOTE, reasons), reads);
    }

    private FileFacts measure(Header h, long bytes) {
        FsStat fs;
        try {
            fs = os.statfs(h.file());
        } catch (IOException e) {
            fs = FsStat.UNKNOWN;
        }
        return new FileFacts(h.file(), new Filesystem(fs.name(), fs.isNetwork(), fs.isRam()), bytes,
                residentFraction(h), directSupported(h));
    }

    private double residentFraction(Header h) {
        if (h.fileSize() == 0) {
            return 1.0;
        }
        // mincore needs a mapping; mapping faults nothing in, and the arena unmaps at once. A file that changed since
        // its header was read fails here, before anything is loaded.
        try (Arena arena = Arena.ofShared()) { // shared: mapped where no interrupt can lose it (MappedFile)
            return os.residentFraction(h.map(arena), RESIDENCY_SAMPLE_PAGES);
        } catch (StloadException e) {
            if (e.getCause() instanceof AccessDeniedException denied) {
                throw unreadable(h, denied);
            }
            if (e.getCause() instanceof IOException) {
                return -1; // a file that cannot be mapped may still be read: its residency is unknown
            }
            throw e;
        }
    }

    private boolean directSupported(Header h) {
        try (NativeFile f = os.open(h.file(), true)) {
            // The engine reads O_DIRECT into page-aligned buffers (LocalRangeSource): a file that needs more reads
            // buffered, and fills the cache as any buffered read does.
            return f.directAlignsTo(os.pageSize());
        } catch (AccessDeniedException e) {
            throw unreadable(h, e);
        } catch (IOException e) {
            return false;
        }
    }

    /** A shard this process may not read is the user's to fix, not a fact for choosing a strategy. */
    private static StloadException unreadable(Header h, AccessDeniedException e) {
        return new StloadException(ErrorKind.Io, h.file(), "permission denied: cannot read the shard ("
                + e.getMessage() + ")", e);
    }
}
