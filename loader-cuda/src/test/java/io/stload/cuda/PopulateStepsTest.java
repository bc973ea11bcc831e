package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.plan.ByteRange;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Prefetch populates the plan's ranges, in bounded steps, and never the gaps between them. */
class PopulateStepsTest {
    @Test
    void stepsCoverTheRangesOnceAndStopAtTheTarget() {
        PopulateSteps steps = new PopulateSteps(List.of(new ByteRange(100, 350), new ByteRange(1000, 1100)), 100);
        assertEquals(List.of(new ByteRange(100, 200)), steps.upTo(150));
        assertEquals(List.of(), steps.upTo(200));
        List<ByteRange> rest = new ArrayList<>(steps.upTo(1001));
        assertEquals(List.of(new ByteRange(200, 300), new ByteRange(300, 350), new ByteRange(1000, 1100)), rest);
        assertEquals(List.of(), steps.upTo(Long.MAX_VALUE));
    }
}
