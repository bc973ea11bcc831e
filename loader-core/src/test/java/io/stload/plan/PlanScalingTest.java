package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Planning one rank is linear in the tensors and independent of the world size: W=100,000 plans as fast as W=2
 * (it took minutes when every rank was sliced, and each expert was dealt by walking the ranks).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class PlanScalingTest {
    private static final PartitionSpec SPLIT_AND_EXPERTS = PartitionSpec.parse("test", "{\"rules\": ["
            + "{\"pattern\": \"*.experts.*\", \"experts\": true}, {\"pattern\": \"*\", \"split\": 0}]}");

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;

    @BeforeAll
    static void write() throws IOException {
        List<TensorData> tensors = new ArrayList<>();
        for (int layer = 0; layer < 4; layer++) {
            tensors.add(new TensorData("layers." + layer + ".w", DType.BF16, new long[] {64, 8}, new byte[64 * 8 * 2]));
            for (int e = 0; e < 64; e++) {
                tensors.add(new TensorData("layers." + layer + ".mlp.experts." + e + ".w", DType.BF16, new long[] {4},
                        new byte[8]));
            }
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(), tensors);
        checkpoint = Checkpoint.open(dir);
    }

    private static LoadPlan plan(int rank, int worldSize) {
        return new Planner().plan(checkpoint, LoadOptions.DEFAULTS.withPartitioning(
                new Partitioning(rank, worldSize, SPLIT_AND_EXPERTS)));
    }

    @Test
    void aHundredThousandRanksPlanAsFastAsTwo() {
        plan(0, 2); // warm up
        long start = System.nanoTime();
        LoadPlan plan = plan(7, 100_000);
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        assertTrue(seconds < 5, "planning rank 7 of 100,000 took " + seconds + " s");
        // Rank 7 holds row 7 of each split tensor (64 rows over 100,000 ranks) and expert 7 of each layer.
        assertEquals(4 * 8 * 2 + 4 * 8, plan.bytes());
        assertEquals(100_000, plan.bytesPerRank().size());
        assertEquals(0, plan.bytesPerRank().get(99_999));
    }

    @Test
    void theLastRankOfTheLargestWorldPlansWithoutMemoryForEveryRank() {
        int worldSize = Integer.MAX_VALUE;
        LoadPlan last = plan(worldSize - 1, worldSize); // a long for every rank below it: an array past the JVM's limit
        assertEquals(0, last.bytes());
        assertEquals(4 * 8 * 2 + 4 * 8, last.bytesPerRank().get(0));
        assertEquals(worldSize, last.bytesPerRank().size());
    }

    @Test
    void everyRanksBytesOnDemandMatchItsOwnPlan() {
        int worldSize = 5;
        LoadPlan rank0 = plan(0, worldSize);
        long total = 0;
        for (int r = 0; r < worldSize; r++) {
            long own = plan(r, worldSize).bytes();
            assertEquals(own, rank0.bytesPerRank().get(r), "rank " + r);
            total += own;
        }
        assertEquals(checkpoint.totalBytes(), total);
    }

    @Test
    void expertOwnersAreTheBlocksOfTheSplitRule() {
        for (int count = 1; count <= 40; count++) {
            for (int worldSize = 1; worldSize <= 45; worldSize++) {
                for (int position = 0; position < count; position++) {
                    int rank = ExpertAssignment.owner(position, count, worldSize);
                    assertTrue(TensorSlice.firstIndex(count, rank, worldSize) <= position
                            && position < TensorSlice.firstIndex(count, rank + 1, worldSize),
                            position + " of " + count + " over " + worldSize + " -> " + rank);
                }
            }
        }
    }
}
