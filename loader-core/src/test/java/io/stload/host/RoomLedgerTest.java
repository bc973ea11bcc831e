package io.stload.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.host.RoomLedger.Entry;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The ledger's lines, as another process (or anyone able to write the user's file) may have left them. */
class RoomLedgerTest {
    private static final long PID = ProcessHandle.current().pid();

    @Test
    void aLineNoLoadWroteCountsForNothing() {
        assertTrue(Entry.parse(PID + " 1 7 1024 0").isPresent());
        for (String line : List.of(PID + " 1 7 -1073741824 0", PID + " 1 7 1024 -2", "0 1 7 1024 0", "-5 1 7 1024 0",
                PID + " 1 7 1024", PID + " 1 7 1024 0 9", PID + " 1 7 1e9 0", "", "\u0000\u00ff junk")) {
            assertTrue(Entry.parse(line).isEmpty(), line);
        }
    }

    @Test
    void whatTheOthersStillNeedAddsUpWithoutWrapping() {
        // anonAtAdmission -1: this process's growth since is unknown, so all of it is still to come.
        Entry some = Entry.parse(PID + " 1 7 1024 -1").orElseThrow();
        Entry huge = Entry.parse(PID + " 1 8 " + Long.MAX_VALUE + " -1").orElseThrow();
        assertEquals(2048, RoomLedger.outstanding(List.of(some, some)));
        assertEquals(Long.MAX_VALUE, RoomLedger.outstanding(List.of(huge, huge)));
        assertEquals(Long.MAX_VALUE, RoomLedger.outstanding(List.of(some, huge, some)));
    }
}
