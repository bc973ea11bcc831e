package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class StrategyHeuristicTest {
    private static final long GIB = 1L << 30;
    private static final Filesystem EXT4 = new Filesystem("ext4", false, false);
    private static final Filesystem TMPFS = new Filesystem("tmpfs", false, true);
    private static final Filesystem NFS = new Filesystem("nfs4", true, false);
    private static final HostFacts ROOMY = new HostFacts(64 * GIB, "test", null);
    private static final Thresholds T = Thresholds.DEFAULTS;

    private static FileFacts file(Filesystem fs, double resident, boolean direct) {
        return new FileFacts(Path.of("/m/model.safetensors"), fs, 8 * GIB, resident, direct);
    }

    private static FileDecision decide(FileFacts f, HostFacts h, long rankBytes) {
        return StrategyHeuristic.decide(f, h, rankBytes, T);
    }

    @Test
    void aResidentLimitReadsDirectlyWhateverElseAndSaysSo() {
        for (FileFacts f : java.util.List.of(file(TMPFS, 0.0, false), file(EXT4, 1.0, true), file(NFS, 0.0, false),
                file(EXT4, 0.0, true))) {
            FileDecision d = StrategyHeuristic.decide(f, ROOMY, 8 * GIB, 8 * GIB, DestinationProfile.EXTERNAL, T,
                    512L << 20);
            assertEquals(LoadStrategy.DIRECT, d.strategy(), f.toString());
            assertEquals(DecisionRule.RESIDENT_LIMIT, d.rule(), f.toString());
            assertTrue(d.summary().contains("resident set bounded to 512.0 MiB: a mapping's pages count in it"),
                    d.summary());
            assertEquals(!f.directSupported(), d.summary().contains("O_DIRECT refused here: buffered preads"),
                    d.summary());
        }
        assertEquals("resident-limit", DecisionRule.RESIDENT_LIMIT.jsonName());
        assertEquals(DecisionRule.TMPFS, StrategyHeuristic.decide(file(TMPFS, 0.0, false), ROOMY, 8 * GIB,
                8 * GIB, DestinationProfile.EXTERNAL, T, 0).rule(), "no limit: the rules as ever");
    }

    @Test
    void ramFilesystemIsMappedWhateverElse() {
        FileDecision d = decide(file(TMPFS, 0.0, true), new HostFacts(1, "t", null), 100 * GIB);
        assertEquals(LoadStrategy.MMAP, d.strategy());
        assertEquals(DecisionRule.TMPFS, d.rule());
    }

    @Test
    void residentDataIsMapped() {
        assertEquals(DecisionRule.RESIDENT, decide(file(EXT4, 0.95, true), ROOMY, 8 * GIB).rule());
        assertEquals(LoadStrategy.MMAP, decide(file(EXT4, 0.95, true), ROOMY, 8 * GIB).strategy());
        assertEquals(DecisionRule.COLD_LOCAL, decide(file(EXT4, 0.5, true), ROOMY, 8 * GIB).rule());
        assertEquals(T.coldLocal(), decide(file(EXT4, 0.5, true), ROOMY, 8 * GIB).strategy());
    }

    @Test
    void smallReadsAreMapped() {
        assertEquals(DecisionRule.SMALL, decide(file(EXT4, 0.0, true), ROOMY, T.smallReadBytes() - 1).rule());
        assertEquals(LoadStrategy.MMAP, decide(file(EXT4, 0.0, true), ROOMY, T.smallReadBytes() - 1).strategy());
    }

    @Test
    void networkFilesystemIsPrefetched() {
        assertEquals(DecisionRule.NETWORK_FS, decide(file(NFS, 0.0, false), ROOMY, 8 * GIB).rule());
        assertEquals(LoadStrategy.PREFETCH, decide(file(NFS, 0.0, false), ROOMY, 8 * GIB).strategy());
    }

    @Test
    void tooLittleHeadroomBypassesThePageCache() {
        HostFacts tight = new HostFacts(4 * GIB, "t", null);
        FileDecision d = decide(file(EXT4, 0.0, true), tight, 8 * GIB);
        assertEquals(LoadStrategy.DIRECT, d.strategy());
        assertEquals(DecisionRule.CACHE_TOO_SMALL, d.rule());
    }

    @Test
    void theDestinationsOwnMemoryCountsAgainstTheHeadroom() {
        HostFacts twenty = new HostFacts(20 * GIB, "t", null);
        FileDecision host = decide(file(EXT4, 0.0, true), twenty, 10 * GIB);
        assertEquals(DecisionRule.CACHE_TOO_SMALL, host.rule(), "10 GiB of host memory leave the cache 10 GiB");
        assertTrue(host.summary().contains("destination takes 10.0 GiB (host memory, the rank's bytes)"), host.summary());
        FileDecision streamed = StrategyHeuristic.decide(file(EXT4, 0.0, true), twenty, 10 * GIB,
                new DestinationProfile("stream budget", DestinationProfile.Holding.UNTIL_LANDED, GIB, 1, 0), T);
        assertEquals(DecisionRule.COLD_LOCAL, streamed.rule(), "a 1 GiB budget leaves the cache 19 GiB");
        assertTrue(streamed.summary().contains("destination takes 1.0 GiB (stream budget)"), streamed.summary());
    }

    @Test
    void theDestinationHoldsTheRanksSlicesNotTheGapsReadThroughBesideThem() {
        HostFacts seventeen = new HostFacts(17 * GIB, "t", null);
        FileDecision d = StrategyHeuristic.decide(file(EXT4, 0.0, true), seventeen, 8 * GIB, 4 * GIB,
                DestinationProfile.HOST, T, 0);
        assertEquals(DecisionRule.COLD_LOCAL, d.rule(), "4 GiB held leave the cache 13 GiB for 8 GiB read: " + d.summary());
        assertTrue(d.summary().contains("destination takes 4.0 GiB (host memory"), d.summary());
    }

    @Test
    void budgetedDestinationsUnderPressureBypassThePageCache() {
        HostFacts tight = new HostFacts(2 * GIB, "t", null);
        FileDecision streamed = StrategyHeuristic.decide(file(EXT4, 0.0, true), tight, 4 * GIB,
                new DestinationProfile("stream budget", DestinationProfile.Holding.UNTIL_LANDED, GIB / 2, 1, 0), T);
        assertEquals(LoadStrategy.DIRECT, streamed.strategy());
        assertEquals(DecisionRule.CACHE_TOO_SMALL, streamed.rule());
        FileDecision device = StrategyHeuristic.decide(file(EXT4, 0.0, true), tight, 4 * GIB,
                new DestinationProfile("staging ring", DestinationProfile.Holding.AT_MOST, GIB / 2, 1, 0), T);
        assertEquals(LoadStrategy.DIRECT, device.strategy(), "a ring lets each block go as it lands");
    }

    @Test
    void coldLocalFollowsTheConfiguredWinnerAndFallsBackWithoutODirect() {
        Thresholds prefetchWins = T.withColdLocal(LoadStrategy.PREFETCH);
        assertEquals(LoadStrategy.PREFETCH,
                StrategyHeuristic.decide(file(EXT4, 0.0, true), ROOMY, 8 * GIB, prefetchWins).strategy());
        Thresholds directWins = T.withColdLocal(LoadStrategy.DIRECT);
        assertEquals(LoadStrategy.DIRECT,
                StrategyHeuristic.decide(file(EXT4, 0.0, true), ROOMY, 8 * GIB, directWins).strategy());
        FileDecision refused = StrategyHeuristic.decide(file(EXT4, 0.0, false), ROOMY, 8 * GIB, directWins);
        assertEquals(LoadStrategy.PREFETCH, refused.strategy());
        assertEquals(DecisionRule.DIRECT_REFUSED, refused.rule());
    }

    @Test
    void reasonsNameEveryMeasuredInput() {
        String s = decide(file(EXT4, 0.03, true), ROOMY, 82 * GIB).summary();
        assertTrue(s.startsWith("ext4, 82.0 GiB for this rank, 3% resident, 64.0 GiB headroom"), s);
        assertTrue(s.endsWith("-> direct"), s);
    }

    @Test
    void unknownInputsAreSaidSo() {
        String s = decide(file(Filesystem.UNKNOWN, -1, false), new HostFacts(-1, "?", null), 8 * GIB).summary();
        assertTrue(s.contains("residency unknown") && s.contains("headroom unknown"), s);
    }
}
