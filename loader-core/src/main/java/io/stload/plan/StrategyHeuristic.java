package io.stload.plan;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The AUTO rule, a pure function of measured facts: which strategy reads a file fastest. The order of the
 * rules matters: a bound the caller puts on the resident set comes first (a mapping's pages count in it, so only
 * direct reads into the loader's own buffers keep within it); data already in memory makes any extra pass waste; a network filesystem wants large
 * sequential requests but may not honour O_DIRECT well; a page cache too small for the rank's bytes would
 * thrash, so bypass it (the page cache gets what the destination leaves of the headroom: owned host memory
 * takes the rank's bytes from the same memory); large cold reads on local disks go to the benchmark's winner.
 */
final class StrategyHeuristic {
    private StrategyHeuristic() {
    }

    /**
     * Decides for a host destination, which takes the rank's bytes.
     *
     * @param file      facts about this file
     * @param host      facts about the host
     * @param rankBytes bytes the rank reads over all its files
     * @param t         the heuristic's constants
     * @return the strategy, its rule and reasons
     */
    public static FileDecision decide(FileFacts file, HostFacts host, long rankBytes, Thresholds t) {
        return decide(file, host, rankBytes, DestinationProfile.HOST, t);
    }

    /**
     * Decides how to read one file, where the destination holds what the rank reads.
     *
     * @param file        facts about this file
     * @param host        facts about the host
     * @param rankBytes   bytes the rank reads over all its files (the page cache must hold them together)
     * @param destination what the destination takes from the same memory
     * @param t           the heuristic's constants
     * @return the strategy, its rule and reasons
     */
    public static FileDecision decide(FileFacts file, HostFacts host, long rankBytes, DestinationProfile destination,
                                      Thresholds t) {
        return decide(file, host, rankBytes, rankBytes, destination, t, 0);
    }

    /**
     * Decides how to read one file under a bound on the resident set.
     *
     * @param file               facts about this file
     * @param host               facts about the host
     * @param rankBytes          bytes the rank reads over all its files (the page cache must hold them together),
     *                           gaps read through included
     * @param landedBytes        bytes of the rank's slices: what a destination holding them takes, the gaps left out
     * @param destination        what the destination takes from the same memory
     * @param t                  the heuristic's constants
     * @param residentLimitBytes the caller's bound on the loader's resident memory; 0 for none
     * @return the strategy, its rule and reasons
     */
    public static FileDecision decide(FileFacts file, HostFacts host, long rankBytes, long landedBytes,
                                      DestinationProfile destination, Thresholds t, long residentLimitBytes) {
        List<String> why = new ArrayList<>();
        why.add(file.fs().name());
        why.add(Sizes.human(rankBytes) + " for this rank");
        why.add(file.resident() < 0 ? "residency unknown" : percent(file.resident()) + " resident");
        why.add(host.headroomBytes() < 0 ? "headroom unknown" : Sizes.human(host.headroomBytes()) + " headroom");
        long destinationBytes = destination.heldBytes(landedBytes, host);
        why.add("destination takes " + Sizes.human(destinationBytes) + " (" + destination.what() + ")");

        if (residentLimitBytes > 0) {
            return new FileDecision(LoadStrategy.DIRECT, DecisionRule.RESIDENT_LIMIT, with(why, "resident set bounded to "
                    + Sizes.human(residentLimitBytes) + ": a mapping's pages count in it, so reads land in the loader's"
                    + " own buffers" + (file.directSupported() ? "" : " (O_DIRECT refused here: buffered preads)")));
        }
        if (file.fs().ram()) {
            return new FileDecision(LoadStrategy.MMAP, DecisionRule.TMPFS, with(why, "RAM filesystem: pages are already in memory"));
        }
        if (file.resident() >= t.residentForMmap()) {
            return new FileDecision(LoadStrategy.MMAP, DecisionRule.RESIDENT, with(why, "mostly in page cache: no I/O left to schedule"));
        }
        if (rankBytes < t.smallReadBytes()) {
            return new FileDecision(LoadStrategy.MMAP, DecisionRule.SMALL, with(why, "small read: an extra pass costs more than it saves"));
        }
        if (file.fs().network()) {
            return new FileDecision(LoadStrategy.PREFETCH, DecisionRule.NETWORK_FS, with(why, "network filesystem: large sequential requests"));
        }
        boolean cacheTooSmall = host.headroomBytes() >= 0
                && host.headroomBytes() - destinationBytes < rankBytes * t.headroomFactor();
        if (cacheTooSmall && file.directSupported()) {
            return new FileDecision(LoadStrategy.DIRECT, DecisionRule.CACHE_TOO_SMALL,
                    with(why, "page cache cannot hold the rank's bytes beside the destination's: bypass it"));
        }
        if (t.coldLocal() == LoadStrategy.DIRECT && !file.directSupported()) {
            return new FileDecision(LoadStrategy.PREFETCH, DecisionRule.DIRECT_REFUSED, with(why, "cold read, O_DIRECT refused here"));
        }
        return new FileDecision(t.coldLocal(), DecisionRule.COLD_LOCAL, with(why, "cold read on a local filesystem"));
    }

    private static List<String> with(List<String> why, String last) {
        why.add(last);
        return why;
    }

    private static String percent(double f) {
        return String.format(Locale.ROOT, "%.0f%%", f * 100);
    }
}
