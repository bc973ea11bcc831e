package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
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

    @Test
    void aCopyThatFailsAsynchronouslyIsAnIoErrorAndEverythingIsFreed() {
        try (FakeCopyEngine engine = new FakeCopyEngine(64 << 20).failCopy(0)) {
            StloadException e = assertThrows(StloadException.class, () -> BandwidthProbe.run(engine, 8 << 20, 3));
            assertEquals(ErrorKind.Io, e.kind());
            assertEquals(ErrorKind.Category.IO, e.kind().category);
            assertTrue(e.getMessage().contains("fake copy 0 failed"), e.getMessage());
            assertEquals(0, engine.liveStagingBuffers());
            assertEquals(0, engine.liveDeviceAllocations());
        }
    }
}
