package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.StloadException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every flag value a command does not take is a usage error: exit 2 and one line, {@code error: Usage: ...},
 * through the same handler {@code main} uses; never an internal error (70) from whatever a library would throw
 * for the value. CKPT and OUT stand for a small checkpoint and a new folder.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // e.g. a serve that runs
class BadFlagValuesTest {
    @TempDir
    static Path dir;
    static Path ckpt;

    @BeforeAll
    static void checkpoint() throws IOException {
        ckpt = dir.resolve("ckpt");
        StringWriter err = new StringWriter();
        assertEquals(0, Main.run(new String[] {"gen", ckpt.toString(), "--size", "1MiB"},
                new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "load CKPT --sink stream --memory-budget 0",
        "load CKPT --sink stream --memory-budget 1",
        "load CKPT --sink stream --memory-budget lots",
        "load CKPT --sink bogus",
        "load CKPT --wait-timeout 2562048h",
        "inspect CKPT --wait-timeout 999999999h",
        "verify CKPT --wait-timeout 200h",
        "load CKPT --threads 0",
        "load CKPT --threads 100000",
        "load CKPT --auto-resident -0.5",
        "load CKPT --auto-headroom-factor -1",
        "load CKPT --auto-headroom-factor NaN",
        "load CKPT --auto-resident Infinity",
        "load CKPT --auto-cold-local mmap",
        "load CKPT --prefetch-window 1",
        "load CKPT --prefetch-window 1GiB --prefetch-ahead 64MiB",
        "load CKPT --direct-block 5000",
        "load CKPT --max-gap lots",
        "load CKPT --order sideways",
        "load CKPT --device cuda --ring-windows 1",
        "load CKPT --device cuda --ring-window-size 5000",
        "plan CKPT --json --world-size 65537",
        "plan CKPT --world-size 0",
        "plan CKPT --rank 2 --world-size 2",
        "plan CKPT --rank -1 --world-size 2",
        "reshard CKPT OUT --world-size 0",
        "reshard CKPT OUT --world-size 70000",
        "reshard CKPT OUT --world-size 2 --shard-size lots",
        "verify CKPT --threads 0",
        "get CKPT x --count -1",
        "serve CKPT --port 70000",
        "serve CKPT --port 0 --quiesce-timeout 1e300",
        "serve CKPT --port 0 --memory-budget lots",
        "gen OUT --size lots",
        "inspect s3://bucket/prefix/ --s3-concurrency 0",
        "inspect s3://bucket/prefix/ --s3-part-size 0",
        // Checked where they go unused too: object-storage flags on a local path, ring flags on a host load.
        "inspect CKPT --s3-part-size NaN",
        "inspect CKPT --s3-concurrency 0",
        "plan CKPT --s3-progress-timeout abc",
        "plan CKPT --memory-budget -1",
        "demo --size 0",
        "demo --size 100KiB",
        // Bounded before a layer is listed: 10^8 layers took minutes to run out of heap.
        "gen OUT --model llama --layers 100000000",
        "gen OUT --model qwen3-moe --layers 1024 --experts 1024",
        "serve CKPT --port 0 --s3-min-rate -1MiB",
        "load CKPT --ring-windows -1",
        "load CKPT --ring-window-size 9999999EiB",
        "load CKPT --pinning evil",
        "plan CKPT --rank 3",
        // An empty path (an unset variable) is refused, never taken as the working folder.
        "reshard CKPT  --world-size 2",
        "gen ",
        "inspect CKPT --cache-dir ",
        "load CKPT --no-such-flag",
        "load CKPT --threads many",
    })
    void isOneUsageLineAndExitTwo(String command) {
        assertTrue(usageLine(command).startsWith("error: Usage: "));
    }

    @Test
    void aFlagThePathWouldIgnoreIsRefusedNamingWhatItIsFor() {
        assertEquals("error: Usage: --ring-windows does not apply to a host load (the staging ring is for --device"
                + " cuda[:N])", usageLine("load CKPT --ring-windows 4"));
        assertEquals("error: Usage: --pinning does not apply to a host load (the staging ring is for --device"
                + " cuda[:N])", usageLine("load CKPT --device cpu --pinning register"));
        String budget = "error: Usage: --memory-budget does not apply to a load that keeps every tensor (it bounds"
                + " --sink stream)";
        assertEquals(budget, usageLine("plan CKPT --memory-budget 1MiB"));
        assertEquals(budget, usageLine("load CKPT --sink host --memory-budget 1MiB"));
        assertEquals(budget, usageLine("load CKPT --device cuda --memory-budget 1MiB"));
        assertEquals("error: Usage: --s3-region does not apply to verify, which reads no s3:// checkpoint",
                usageLine("verify CKPT --s3-region eu-west-1"));
        assertEquals("error: Usage: --s3-concurrency does not apply to reshard, which reads no s3:// checkpoint",
                usageLine("reshard CKPT OUT --world-size 2 --s3-concurrency 3"));
        assertEquals("error: Usage: --allow-remote does not apply to a loopback --bind (127.0.0.1), which nothing"
                + " beyond this host reaches", usageLine("serve CKPT --port 0 --allow-remote"));
        assertEquals("error: Usage: --prefetch-ahead does not apply to --load-strategy direct (it is for prefetch)",
                usageLine("load CKPT --load-strategy direct --prefetch-ahead 1TiB"));
        assertEquals("error: Usage: --auto-small does not apply to --load-strategy mmap (it is for AUTO)",
                usageLine("plan CKPT --load-strategy mmap --auto-small 1"));
        assertEquals("error: Usage: --direct-block does not apply to --load-strategy prefetch (it is for direct and"
                + " mmap)", usageLine("load CKPT --load-strategy prefetch --direct-block 4KiB"));
        assertEquals("error: Usage: --seed does not apply to --order file (it is for --order shuffled)",
                usageLine("load CKPT --seed 7"));
        for (String command : List.of("plan", "load")) {
            assertEquals("error: Usage: --partition does not apply to --world-size 1, where the rank holds every tensor"
                    + " whole", usageLine(command + " CKPT --partition auto"));
        }
    }

    @Test
    void aLimitIsNamedWithItsFlagAsTheFlagTakesIt() {
        assertEquals("error: Usage: --max-gap: must be at most 1.0 GiB, not 1.5GiB", usageLine("plan CKPT --max-gap 1.5GiB"));
        assertEquals("error: Usage: --prefetch-ahead: must be at most 1.0 TiB, not 2TiB",
                usageLine("plan CKPT --prefetch-ahead 2TiB"));
        assertEquals("error: Usage: --s3-progress-timeout: must be from 1ms to 1h, not 0",
                usageLine("plan CKPT --s3-progress-timeout 0"));
        assertEquals("error: Usage: --wait-timeout: must be from 0s to 168h, not 169h",
                usageLine("plan CKPT --wait-timeout 169h"));
    }

    /** The JDK's server takes a limit it cannot read as none at all: serve refuses it instead. */
    @Test
    void aServerLimitThatIsNoNumberIsRefused() {
        WeightServer.requireLimits(System::getProperty); // serve's defaults, and whatever this JVM was given, pass
        StloadException e = assertThrows(StloadException.class, () -> WeightServer.requireLimits(
                p -> p.equals("sun.net.httpserver.maxReqTime") ? "ten" : System.getProperty(p)));
        assertEquals("Usage: -Dsun.net.httpserver.maxReqTime=ten: not a whole number of at least 1, which the JDK's"
                + " server would take as no limit", e.getMessage());
    }

    @Test
    void numbersAreWrittenAsTyped() {
        assertEquals("error: Usage: --auto-resident: must be a number of at least 0, not -0.5",
                usageLine("load CKPT --auto-resident -0.5"));
        assertEquals("error: Usage: --quiesce-timeout: must be in 0..86400, not 100000",
                usageLine("serve CKPT --port 0 --quiesce-timeout 1e5"));
    }

    /** The one line {@code command} prints, after checking it exits 2 with exactly that line. */
    private static String usageLine(String command) {
        String[] args = Arrays.stream(command.split(" ", -1))
                .map(a -> a.equals("CKPT") ? ckpt.toString() : a.equals("OUT") ? dir.resolve("out").toString() : a)
                .toArray(String[]::new);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        List<String> lines = err.toString().lines().toList();
        assertEquals(ExitCodes.USAGE, code, command + ": " + err);
        assertEquals(1, lines.size(), command + ": " + err);
        return lines.getFirst();
    }
}
