package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The planner reads a strided slice through its gaps exactly when they are no larger than the threshold. */
class ReadCoalescingTest {
    private static final int ROWS = 8;
    private static final long ROW_BYTES = 8192;
    /** Rank 0 of 2, split on dimension 1: the first half of every row, so the gap is the other half. */
    private static final long GAP = ROW_BYTES / 2;

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    @BeforeAll
    static void write() throws IOException {
        TensorData m = new TensorData("m", DType.BF16, new long[] {ROWS, ROW_BYTES / 2}, new byte[(int) (ROWS * ROW_BYTES)]);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(), List.of(m));
        checkpoint = Checkpoint.open(dir);
    }

    @Test
    void rangesAreCutAtEachPointInsideThemOnce() {
        List<ByteRange> ranges = List.of(new ByteRange(0, 100), new ByteRange(200, 300));
        // 0 and 100 are ends already, 150 lies in no range, 250 comes twice.
        assertEquals(List.of(new ByteRange(0, 40), new ByteRange(40, 100), new ByteRange(200, 250),
                new ByteRange(250, 300)), ReadRanges.cutAt(ranges, new long[] {0, 40, 100, 150, 250, 250}));
        assertEquals(ranges, ReadRanges.cutAt(ranges, new long[0]));
    }

    @Test
    void gapsUpToTheThresholdAreReadThrough() {
        List<ByteRange> reads = reads(GAP);
        assertEquals(1, reads.size());
        assertEquals((ROWS - 1) * ROW_BYTES + GAP, ReadRanges.bytes(reads));
        assertEquals(1, reads(Thresholds.DEFAULTS.maxGapBytes()).size());
    }

    @Test
    void largerGapsAreSkippedWithOneReadPerRun() {
        for (long maxGap : new long[] {0, GAP - 1}) {
            List<ByteRange> reads = reads(maxGap);
            assertEquals(ROWS, reads.size());
            assertEquals(ROWS * (ROW_BYTES - GAP), ReadRanges.bytes(reads));
        }
    }

    @Test
    void theGapsReadThroughAreNotWhatTheDestinationHolds() {
        FilePlan file = plan(GAP).files().get(0);
        assertEquals((ROWS - 1) * ROW_BYTES + GAP, ReadRanges.bytes(file.reads()));
        String why = file.decision().summary();
        assertTrue(why.contains("60.0 KiB for this rank") && why.contains("destination takes 32.0 KiB (host memory"),
                why);
    }

    private static List<ByteRange> reads(long maxGap) {
        return plan(maxGap).files().get(0).reads();
    }

    private static LoadPlan plan(long maxGap) {
        Partitioning rank0 = new Partitioning(0, 2, PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"*\", \"split\": 1}]}"));
        LoadOptions options = LoadOptions.DEFAULTS.withThresholds(withMaxGap(maxGap)).withPartitioning(rank0);
        return new Planner().plan(checkpoint, options);
    }

    private static Thresholds withMaxGap(long maxGap) {
        Thresholds d = Thresholds.DEFAULTS;
        return new Thresholds(d.residentForMmap(), d.smallReadBytes(), d.headroomFactor(), d.coldLocal(),
                d.prefetchWindow(), d.prefetchAhead(), d.directBlock(), maxGap);
    }
}
