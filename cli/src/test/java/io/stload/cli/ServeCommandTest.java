package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.testing.ChildJvm;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code stload serve} as a user starts it: its own JVM, port 0, the bound address read from stdout. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeCommandTest {
    private static final Pattern ADDRESS = Pattern.compile("^serving .* \\(version 1, .*\\) on (http://127\\.0\\.0\\.1:\\d+)$");

    @TempDir
    Path dir;

    @Test
    void servesOnTheFreePortItPrints() throws Exception {
        Path model = WeightServerTest.write(dir, "model.safetensors", WeightServerTest.A);
        Process p = ChildJvm.main(Main.class).args("serve", model.toString(), "--port", "0").builder()
                .redirectError(dir.resolve("stderr").toFile())
                .start();
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            Matcher m = ADDRESS.matcher(String.valueOf(line));
            assertTrue(m.matches(), "first line: " + line);
            String base = m.group(1);

            Map<String, Object> health = get(client, base + "/health");
            assertEquals(1L, health.get("version"));
            assertTrue((Long) health.get("memory_bytes") > 0, health.toString());
            Map<String, Object> norm = get(client, base + WeightServerTest.tensorPath(WeightServerTest.NORM));
            assertEquals(WeightServerTest.crcOf(32, WeightServerTest.A), norm.get("crc32"));
        } finally {
            p.destroy();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
        }
    }

    private static Map<String, Object> get(HttpClient client, String uri) throws IOException, InterruptedException {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JsonReplies.parse(r.body());
    }

    @Test
    void portIsRequiredAndBadFlagsAreUsageErrors() {
        for (List<String> args : List.of(List.of("serve", "x.safetensors"),
                List.of("serve", "x.safetensors", "--port", "70000"),
                List.of("serve", "x.safetensors", "--port", "0", "--memory-budget", "lots"))) {
            StringWriter err = new StringWriter();
            int code = Main.run(args.toArray(String[]::new), new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
            assertEquals(2, code, args + ": " + err);
            assertEquals(1, err.toString().lines().count(), err.toString());
        }
    }

    @Test
    void aBindBeyondLoopbackNeedsAllowRemoteAndIsWarnedAbout() throws Exception {
        StringWriter err = new StringWriter();
        int code = Main.run(new String[] {"serve", "x.safetensors", "--port", "0", "--bind", "0.0.0.0"},
                new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
        assertEquals(2, code, err.toString());
        assertTrue(err.toString().startsWith("error: Usage: --bind 0.0.0.0 listens beyond this host"), err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());

        // Allowed, it warns first; the missing checkpoint then stops it before anything listens.
        err = new StringWriter();
        code = Main.run(new String[] {"serve", dir.resolve("missing.safetensors").toString(), "--port", "0", "--bind",
                "0.0.0.0", "--allow-remote"}, new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
        assertEquals(4, code, err.toString());
        assertTrue(err.toString().startsWith("warning: serving on 0.0.0.0, beyond this host"), err.toString());
    }

    @Test
    void aTokenFileThatIsAFifoOrTooShortIsAUsageErrorNotAHang() throws Exception {
        Path fifo = dir.resolve("token.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        Path shortToken = java.nio.file.Files.writeString(dir.resolve("short.token"), "abc\n");
        for (Path tokenFile : List.of(fifo, shortToken, dir.resolve("none.token"))) {
            StringWriter err = new StringWriter();
            int code = Main.run(new String[] {"serve", "x.safetensors", "--port", "0", "--token-file", tokenFile.toString()},
                    new PrintWriter(new StringWriter(), true), new PrintWriter(err, true));
            assertEquals(2, code, err.toString());
            assertEquals(1, err.toString().lines().count(), err.toString());
        }
    }

    @Test
    void theShutdownHookIsRemovedWhenTheServerStops() {
        Thread hook;
        try (ShutdownHook h = new ShutdownHook(() -> { })) {
            hook = h.thread();
        }
        // Removing it again fails only because closing removed it; a hook left behind would return true here.
        assertEquals(false, Runtime.getRuntime().removeShutdownHook(hook));
    }
}
