package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.testing.ChildJvm;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code stload serve} in its own JVM, with the server's limits shortened (1 s to receive a request, 16
 * connections) and a descriptor limit of 512, fed through raw sockets: requests that never finish, bodies
 * shorter than declared, and more connections than descriptors. Each must be dropped within a deadline, and
 * {@code /health} must answer afterwards.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ServeLimitsProcessTest {
    private static final Pattern ADDRESS = Pattern.compile("^serving .* on http://127\\.0\\.0\\.1:(\\d+)$");
    private static final Pattern TOKEN = Pattern.compile("^reload token in (\\S+); reloads may name checkpoints under .*$");
    private static final int DROP_DEADLINE_MS = 15_000;

    @TempDir
    Path dir;
    Process serve;
    int port;
    Path tokenFile;

    @BeforeEach
    void start() throws IOException {
        Path model = WeightServerTest.write(dir, "model.safetensors", WeightServerTest.A);
        serve = ChildJvm.main(Main.class).openFileLimit(512)
                .options("-Dsun.net.httpserver.maxReqTime=1", "-Dsun.net.httpserver.clockTick=100",
                        "-Dsun.net.httpserver.timerMillis=100", "-Djdk.httpserver.maxConnections=16")
                .args("serve", model.toString(), "--port", "0").builder().redirectError(dir.resolve("stderr").toFile())
                .start();
        BufferedReader out = new BufferedReader(new InputStreamReader(serve.getInputStream(), StandardCharsets.UTF_8));
        Matcher address = ADDRESS.matcher(String.valueOf(out.readLine()));
        assertTrue(address.matches(), address.toString() + Files.readString(dir.resolve("stderr")));
        port = Integer.parseInt(address.group(1));
        Matcher token = TOKEN.matcher(String.valueOf(out.readLine()));
        assertTrue(token.matches(), token.toString());
        tokenFile = Path.of(token.group(1));
    }

    @AfterEach
    void stop() throws InterruptedException {
        serve.destroy();
        assertTrue(serve.waitFor(30, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
    }

    @Test
    void theTokenFileIsReadableOnlyByTheServersUserAndGoesAwayWithIt() throws Exception {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(tokenFile)));
        assertTrue(Files.readString(tokenFile).strip().length() >= ReloadGuard.MIN_TOKEN_CHARS);
        if (isRoot()) {
            Process cat = new ProcessBuilder("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                    "cat", tokenFile.toString()).redirectErrorStream(true).start();
            String said = new String(cat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(cat.waitFor(30, TimeUnit.SECONDS));
            assertNotEquals(0, cat.exitValue(), "nobody read the token: " + said);
            assertTrue(said.contains("Permission denied"), said);
        }
        serve.destroy();
        assertTrue(serve.waitFor(30, TimeUnit.SECONDS));
        assertFalse(Files.exists(tokenFile), "the token file outlived the server");
    }

    @Test
    void requestsThatNeverFinishAreDroppedAndTheServerStillAnswers() throws Exception {
        String token = Files.readString(tokenFile).strip();
        List<Socket> stalled = new ArrayList<>();
        long start = System.nanoTime();
        // More half-sent requests than the server takes connections.
        for (int i = 0; i < 40; i++) {
            stalled.add(send("POST /update_weights_from_disk HTTP/1.1\r\nHost: x\r\nContent-Le"));
        }
        // A body shorter than it says, after a valid token: the handler is left waiting for the rest.
        stalled.add(send("POST /update_weights_from_disk HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
                + "\r\nContent-Length: 1000\r\n\r\n{\"path\":"));
        for (Socket s : stalled) {
            assertDropped(s);
        }
        assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(DROP_DEADLINE_MS + 5_000));
        assertTrue(healthAnswers(System.nanoTime() + TimeUnit.SECONDS.toNanos(20)),
                "/health did not answer after the stalled requests were dropped");
    }

    @Test
    void moreConnectionsThanDescriptorsDoNotStarveTheServer() throws Exception {
        // Unlimited, the server accepts until it runs out of descriptors, then spins on accept while the rest
        // queue; nothing is freed until the idle timer, 30 s on. Limited, it stays well under its 512.
        // A loopback connect completes in the kernel at once, or its SYN was dropped (the accept queue is full)
        // and it would wait for a retransmission: 200 ms tells the two apart without waiting out seconds.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 600 && System.nanoTime() < deadline; i++) {
                Socket s = new Socket();
                try {
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
                    idle.add(s);
                } catch (IOException e) {
                    s.close(); // refused, or queued past the timeout: either way this connection is not held
                }
            }
            assertTrue(healthAnswers(deadline), "/health did not answer within 20 s of opening 600 connections");
        } finally {
            for (Socket s : idle) {
                s.close();
            }
        }
    }

    private Socket send(String bytes) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), port);
        s.setSoTimeout(DROP_DEADLINE_MS);
        OutputStream out = s.getOutputStream();
        out.write(bytes.getBytes(StandardCharsets.US_ASCII));
        out.flush();
        return s;
    }

    /** The server closes the connection, with or without a reply, before the deadline. */
    private static void assertDropped(Socket s) throws IOException {
        try (s) {
            while (s.getInputStream().read() >= 0) {
                // A 4xx reply is as good as a close; read until the close that follows it.
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("a stalled request was still held after " + DROP_DEADLINE_MS + " ms", e);
        } catch (SocketException e) {
            // Reset by the server: dropped.
        }
    }

    /** GET /health on a fresh connection, retried until it answers 200 or the deadline passes. */
    private boolean healthAnswers(long deadline) throws InterruptedException {
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2_000);
                s.setSoTimeout(2_000);
                s.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                String reply = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
                if (reply.startsWith("HTTP/1.1 200")) {
                    return true;
                }
            } catch (IOException e) {
                // Refused or dropped while over the connection limit: try again.
            }
            Thread.sleep(100); // a retry interval, not a wait for an event this test could observe
        }
        return false;
    }

    static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }
}
