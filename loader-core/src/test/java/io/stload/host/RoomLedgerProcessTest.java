package io.stload.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ledger of a memory cgroup as processes inside one use it (v1, as root; skipped elsewhere), with faults injected:
 * a ledger that cannot be written ({@code ulimit -f 0}: every write past a file's start fails), and an admission
 * released twice.
 */
class RoomLedgerProcessTest {
    private static final Path V1_MEMORY = Path.of("/sys/fs/cgroup/memory");
    private static final long GIB = 1L << 30;

    @TempDir
    Path dir;
    Path group;
    Path ledger;

    @BeforeEach
    void group() throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")) && Files.isWritable(V1_MEMORY),
                "needs root and the v1 memory controller");
        group = Files.createDirectory(V1_MEMORY.resolve("stload-ledger-test-" + ProcessHandle.current().pid()));
        Files.writeString(group.resolve("memory.limit_in_bytes"), String.valueOf(GIB));
        ledger = RoomLedger.fileOf(group).orElseThrow();
    }

    @AfterEach
    void removeGroup() throws IOException {
        if (group != null) {
            Files.delete(group);
            Files.deleteIfExists(ledger);
        }
    }

    /** The probe in the group, its file size limited to {@code fileBlocks}: what it printed. */
    private String probe(String fileBlocks, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("bash", "-c", "echo $$ > " + group.resolve("cgroup.procs")
                + " && ulimit -f " + fileBlocks + " && exec \"$0\" \"$@\""));
        // No hsperfdata file: it could not be written either.
        command.addAll(ChildJvm.main(LedgerProbe.class).options("-XX:-UsePerfData").args(args).command());
        // A pipe, not a file, which the limit would keep the probe from writing; its few lines fit the pipe's buffer.
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the probe did not end");
        String printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), printed);
        return printed;
    }

    /** A refusal stands where the ledger cannot be written back; it used to turn into an admission on the room alone. */
    @Test
    void aRefusalStandsWhenTheLedgerCannotBeWritten() throws Exception {
        Process other = new ProcessBuilder("sleep", "60").start();
        try {
            long start = other.info().startInstant().orElseThrow().toEpochMilli();
            Files.writeString(ledger, other.pid() + " " + start + " 7 " + GIB + " -1\n");
            String printed = probe("0", String.valueOf(100L << 20), String.valueOf(100L << 20));
            assertTrue(printed.contains("admitted=false others=1"), printed);
        } finally {
            other.destroyForcibly().waitFor();
        }
    }

    /** A load let in on the room alone, its line unwritten, leaves no mark (nor its descriptor) behind. */
    @Test
    void aLoadWhoseLineCannotBeWrittenLeavesNoMark() throws Exception {
        String printed = probe("0", "4096", "4096");
        assertTrue(printed.contains("admitted=true others=0") && printed.contains("marks=0"), printed);
    }

    /** Released twice, an admission closes its mark's descriptor once: not another file's that took its number. */
    @Test
    void anAdmissionReleasedTwiceClosesNothingElse() throws Exception {
        String printed = probe("unlimited", "4096", "4096", "twice");
        assertTrue(printed.contains("admitted=true others=0") && printed.contains("between=ok")
                && printed.contains("marks=0"), printed);
        assertEquals("", Files.readString(ledger));
    }
}
