package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BandwidthProbeTest {
    @Test
    void measuresEveryRepetitionAndFreesWhatItAllocated() throws Exception {
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20)) {
            BandwidthProbe.Result r = BandwidthProbe.run(engine, 8 << 20, 3);
            assertEquals(3, r.gbps().length);
            assertTrue(r.best() >= r.median() && r.median() > 0, r.best() + " " + r.median());
            assertEquals(0, engine.liveStagingBuffers());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }
}
