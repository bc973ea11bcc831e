package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** A destination's memory, resolved against the host: what it must hold, and a stream's budget within a cgroup. */
class DestinationProfileTest {
    private static final long MIB = 1 << 20;
    private static final DestinationProfile STREAM = new DestinationProfile("stream budget",
            DestinationProfile.Holding.UNTIL_LANDED, 0, MIB, 0);

    @Test
    void whatEachDestinationMustHoldAtOnce() {
        assertEquals(900 * MIB, DestinationProfile.HOST.unavoidableBytes(900 * MIB, 145 * MIB));
        assertEquals(145 * MIB, STREAM.unavoidableBytes(900 * MIB, 145 * MIB));
        assertEquals(0, DestinationProfile.EXTERNAL.unavoidableBytes(900 * MIB, 145 * MIB));
    }

    @Test
    void aStreamsBudgetIsHeldWithinHalfTheRoomACgroupLeaves() {
        HostFacts roomy = new HostFacts(8192 * MIB, "test", null);
        HostFacts tight = new HostFacts(8192 * MIB, "test", null, 200 * MIB);
        assertEquals(1024 * MIB, STREAM.budgetOn(roomy), "the default: a quarter of the headroom, at most 1 GiB");
        assertEquals(100 * MIB, STREAM.budgetOn(tight));
        DestinationProfile asked = new DestinationProfile("stream budget", DestinationProfile.Holding.UNTIL_LANDED,
                64 * MIB, MIB, 0);
        assertEquals(64 * MIB, asked.budgetOn(tight), "a budget within the room stays as asked");
        assertEquals(0, DestinationProfile.HOST.heldBytes(0, tight));
        assertEquals(900 * MIB, DestinationProfile.HOST.heldBytes(900 * MIB, tight), "host memory is not a budget");
    }
}
