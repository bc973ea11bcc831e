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
    void aFlagThatCannotActIsRefusedNamingWhatItIsFor() {
        String budget = "error: Usage: --memory-budget does not apply to a load that keeps every tensor (it bounds"
                + " --sink stream)";
        assertEquals(budget, usageLine("plan CKPT --memory-budget 1MiB"));
        assertEquals(budget, usageLine("load CKPT --sink host --memory-budget 1MiB"));
        assertEquals(budget, usageLine("load CKPT --device cuda --memory-budget 1MiB"));
        assertEquals("error: Usage: --s3-region does not apply to verify, which reads no s3:// checkpoint",
                usageLine("verify CKPT --s3-region eu-west-1"));
        assertEquals("error: Usage: --s3-concurrency does not apply to reshard, which reads no s3:// checkpoint",
                usageLine("reshard CKPT OUT --world-size 2 --s3-concurrency 3"));
        assertEquals("error: Usage: --seed does not apply to --order file (it is for --order shuffled)",
                usageLine("load CKPT --seed 7"));
        // What a launcher varies from run to run (the device, the world size, the strategy) leaves the flags that
        // serve one choice checked and unused under another, so that it may pass them all every time.
        assertTrue(usageLine("plan CKPT --partition /no/such/rules.json").startsWith("error: Usage: --partition: "));
        // A device load streams whatever the sink: without a GPU here, it gets as far as looking for one.
        StringWriter noGpu = new StringWriter();
        String[] streamToDevice = {"load", ckpt.toString(), "--device", "cuda", "--sink", "stream"};
        assertEquals(ExitCodes.IO, Main.run(streamToDevice, new PrintWriter(new StringWriter()),
                new PrintWriter(noGpu, true)), noGpu.toString());
        assertTrue(noGpu.toString().startsWith("error: NoDevice: "), noGpu.toString());
        for (String passed : List.of("plan CKPT --partition auto", "load CKPT --ring-windows 4",
                "plan CKPT --load-strategy direct --prefetch-ahead 1TiB")) {
            StringWriter err = new StringWriter();
            assertEquals(0, Main.run(passed.replace("CKPT", ckpt.toString()).split(" "),
                    new PrintWriter(new StringWriter()), new PrintWriter(err, true)), passed + ": " + err);
        }
    }

    /** The JDK's server takes a limit it cannot read as none at all: serve refuses it instead. */
    @Test
    void aServerLimitThatIsNoNumberIsRefused() {
        WeightServer.requireLimits(System::getProperty); // serve's defaults, and whatever this JVM was given, pass
        StloadException e = assertThrows(StloadException.class, () -> WeightServer.requireLimits(
                p -> p.equals("sun.net.httpserver.maxReqTime") ? "ten" : System.getProperty(p)));
        assertEquals("Usage: -Dsun.net.httpserver.maxReqTime=ten: not a whole number from 1 to 2147483647, so the"
                + " JDK's server would drop the limit", e.getMessage());
        assertThrows(StloadException.class, () -> WeightServer.requireLimits(
                p -> p.equals("jdk.httpserver.maxConnections") ? "3000000000" : System.getProperty(p)));
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
