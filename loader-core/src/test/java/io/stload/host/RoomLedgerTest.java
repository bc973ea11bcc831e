package io.stload.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.host.RoomLedger.Entry;
import io.stload.nativeio.NativeAccess;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    /**
     * A rank killed while its launcher waits on another is a zombie until reaped: it holds nothing and will allocate
     * nothing, so its line counts for nothing, while a running process's does.
     */
    @Test
    void aProcessThatExitedButIsNotReapedCountsForNothing(@TempDir Path dir) throws Exception {
        // The shell's child exits at once; the shell then becomes `sleep`, which never reaps it.
        Process parent = new ProcessBuilder("sh", "-c", "sleep 0 & echo $!; exec sleep 60").start();
        try {
            long zombie = Long.parseLong(parent.inputReader().readLine().strip());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!Files.readString(Path.of("/proc", Long.toString(zombie), "stat")).contains(") Z ")) {
                assertTrue(System.nanoTime() < deadline, "the child never exited");
                Thread.onSpinWait();
            }
            Entry dead = new Entry(zombie, startOf(zombie), 1, 1L << 30, -1);
            Entry running = new Entry(parent.pid(), startOf(parent.pid()), 2, 1L << 30, -1);
            assertEquals(List.of(running), RoomLedger.live(dir.resolve("ledger"), List.of(dead, running)));
        } finally {
            parent.destroyForcibly().waitFor();
        }
    }

    /**
     * A load in another PID namespace (a container that shares the group and /dev/shm) has a pid that names nothing
     * here, or another process: it counts, with all it was let in for, while its process holds its mark, and for
     * nothing once the mark is free, which is then removed.
     */
    @Test
    void aLoadWhosePidMeansNothingHereCountsWhileItHoldsItsMark(@TempDir Path dir) throws Exception {
        assumeTrue(NativeAccess.get().locksInteroperateWithFlock(), "a mark is a flock(2) lock");
        Path ledger = dir.resolve("stload-memcg-0123456789abcdef");
        Entry noPidHere = new Entry(Integer.MAX_VALUE, 1, 7, 1L << 30, 0); // above any pid_max
        Entry namesake = new Entry(PID, 1, 8, 1L << 30, 0); // this JVM's pid, another process's start
        List<Process> holders = new ArrayList<>();
        try {
            for (Entry e : List.of(noPidHere, namesake)) {
                Path mark = Files.createFile(RoomLedger.markOf(ledger, e));
                // The shell locks the mark, then becomes `sleep`, which holds it until it is killed.
                Process holder = new ProcessBuilder("sh", "-c", "exec 9<\"$0\" && flock 9 && echo held && exec sleep 60",
                        mark.toString()).start();
                holders.add(holder);
                assertEquals("held", holder.inputReader().readLine());
            }
            assertEquals(List.of(noPidHere, namesake), RoomLedger.live(ledger, List.of(noPidHere, namesake)));
            // This JVM's growth since is not the namesake's: all of what it was let in for is still to come.
            assertEquals(2L << 30, RoomLedger.outstanding(List.of(noPidHere, namesake)));
        } finally {
            for (Process p : holders) {
                p.destroyForcibly().waitFor();
            }
        }
        assertEquals(List.of(), RoomLedger.live(ledger, List.of(noPidHere, namesake)));
        try (var left = Files.list(dir)) {
            assertEquals(List.of(), left.toList(), "the marks of ended loads are removed");
        }
    }

    /**
     * Anyone may make a file named as a load's mark in {@code /dev/shm} and hold it locked: a mark of another user's
     * vouches for no load (its pid decides), and is left where it is.
     */
    @Test
    void aMarkOfAnotherUsersVouchesForNothing(@TempDir Path dir) throws Exception {
        assumeTrue(NativeAccess.get().locksInteroperateWithFlock() && System.getProperty("user.name").equals("root"),
                "planting another user's file takes root");
        Path ledger = dir.resolve("stload-memcg-0123456789abcdef");
        Entry ended = new Entry(Integer.MAX_VALUE, 1, 9, 1L << 30, 0);
        Path mark = Files.createFile(RoomLedger.markOf(ledger, ended));
        Files.setOwner(mark, mark.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody"));
        Process holder = new ProcessBuilder("sh", "-c", "exec 9<\"$0\" && flock 9 && echo held && exec sleep 60",
                mark.toString()).start();
        try {
            assertEquals("held", holder.inputReader().readLine());
            assertEquals(List.of(), RoomLedger.live(ledger, List.of(ended)));
            assertTrue(Files.exists(mark));
        } finally {
            holder.destroyForcibly().waitFor();
        }
    }

    private static long startOf(long pid) {
        return ProcessHandle.of(pid).orElseThrow().info().startInstant().orElseThrow().toEpochMilli();
    }

    @Test
    void theLedgerIsOnlyEverTheUsersOwnFile(@TempDir Path dir) throws IOException {
        Path made = dir.resolve("made");
        try (FileChannel ch = RoomLedger.open(made)) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(made)));
        }
        try (FileChannel ch = RoomLedger.open(made)) { // the user's own, opened again
            assertEquals(0, ch.size());
        }
        Path link = Files.createSymbolicLink(dir.resolve("link"), made);
        assertThrows(IOException.class, () -> RoomLedger.open(link).close());
        Path precious = Files.writeString(dir.resolve("precious"), "the user's own");
        Path second = Files.createLink(dir.resolve("second-name"), precious);
        assertThrows(IOException.class, () -> RoomLedger.open(second).close());
        assertEquals("the user's own", Files.readString(precious));

        assumeTrue(System.getProperty("user.name").equals("root"), "planting another user's file takes root");
        Path planted = Files.createFile(dir.resolve("planted"));
        UserPrincipal nobody = planted.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
        Files.setOwner(planted, nobody);
        assertThrows(IOException.class, () -> RoomLedger.open(planted).close());
        assertEquals(0, Files.size(planted));
    }
}
