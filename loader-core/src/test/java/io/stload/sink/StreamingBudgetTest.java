package io.stload.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.plan.DestinationProfile;
import org.junit.jupiter.api.Test;

/** The streaming destination's default budget stays within what the memory headroom allows. */
class StreamingBudgetTest {
    private static final long MIB = 1 << 20;

    @Test
    void theDefaultBudgetIsAQuarterOfTheHeadroomAtMostOneGib() {
        assertEquals(100 * MIB, DestinationProfile.defaultBudget(400 * MIB), "a 512 MiB container with 400 MiB left");
        assertEquals(DestinationProfile.MOST_DEFAULT_BUDGET, DestinationProfile.defaultBudget(64L << 30));
        assertEquals(DestinationProfile.MOST_DEFAULT_BUDGET, DestinationProfile.defaultBudget(-1), "headroom unknown");
        assertEquals(16 * MIB, DestinationProfile.defaultBudget(0), "room for a few windows still");
    }
}
