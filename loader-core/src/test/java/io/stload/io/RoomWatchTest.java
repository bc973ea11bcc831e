package io.stload.io;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The room a load counted on, watched as the group's room and the process's own memory move. */
class RoomWatchTest {
    private static final long MIB = 1L << 20;

    private final AtomicLong room = new AtomicLong(200 * MIB);
    private final AtomicLong own = new AtomicLong(50 * MIB);
    private final RoomWatch watch = new RoomWatch(room::get, own::get, 150 * MIB);

    @Test
    void theLoadsOwnGrowthIsWhatItWasLetInFor() {
        for (long grew = 0; grew <= 150 * MIB; grew += 10 * MIB) {
            own.set(50 * MIB + grew);
            room.set(200 * MIB - grew);
            assertDoesNotThrow(watch::check);
        }
    }

    @Test
    void othersTakingTheSpareRoomAloneIsNoReason() {
        room.set(150 * MIB); // others took the 50 MiB it had to spare
        assertDoesNotThrow(watch::check);
    }

    @Test
    void othersTakingWhatItStillNeedsStopIt() {
        own.set(100 * MIB); // it grew by 50 of its 150 MiB
        room.set(90 * MIB); // others took 60 MiB: 90 left where it needs 100
        StloadException e = assertThrows(StloadException.class, watch::check);
        assertEquals(ErrorKind.OutOfMemory, e.kind());
        assertTrue(e.getMessage().contains("other processes in the group took 60.0 MiB")
                && e.getMessage().contains("needs 100.0 MiB more"), e.getMessage());
    }

    @Test
    void aShortfallOfItsOwnMakingIsNotBlamedOnOthers() {
        // Let in beyond its room (a staging ring over the room), it is short from the start, but nobody took anything.
        RoomWatch over = new RoomWatch(room::get, own::get, 400 * MIB);
        own.set(60 * MIB + RoomWatch.TOLERANCE_BYTES);
        room.set(190 * MIB - RoomWatch.TOLERANCE_BYTES);
        assertDoesNotThrow(over::check);
    }

    @Test
    void nothingBoundsNothing() {
        RoomWatch unbounded = new RoomWatch(() -> -1, own::get, 150 * MIB);
        own.set(1L << 40);
        assertDoesNotThrow(unbounded::check);
        assertDoesNotThrow(RoomWatch.NONE::check);
    }
}
