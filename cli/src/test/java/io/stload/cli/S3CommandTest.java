package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.s3.FaultProxy;
import io.stload.s3.S3ProxyServer;
import io.stload.testing.ChildJvm;
import com.sun.net.httpserver.HttpServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * {@code load}, {@code get}, {@code plan} and {@code inspect} of an s3:// checkpoint served by S3Proxy on loopback (its
 * filesystem backend, signatures checked), and the commands that refuse one.
 */
@Isolated("it watches every io.stload log record, and --verbose changes where they all go")
class S3CommandTest {
    @TempDir
    static Path tmp;
    static Path dir;
    static S3ProxyServer server;
    static String endpoint;

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();

    @BeforeAll
    static void start() throws Exception {
        dir = tmp.resolve("ckpt");
        StringWriter sink = new StringWriter();
        int rc = Main.run(new String[] {"gen", dir.toString(), "--size", "3MiB", "--shard-size", "1MiB", "--seed", "5"},
                new PrintWriter(sink, true), new PrintWriter(sink, true));
        assertEquals(0, rc, sink.toString());
        server = new S3ProxyServer(tmp.resolve("s3"));
        Path folder = Files.createDirectories(server.bucket("models").resolve("ckpt"));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.copy(f, folder.resolve(f.getFileName()));
            }
        }
        endpoint = server.endpoint().toString();
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    /** The {@code crc  name} lines of a {@code load --digest}. */
    private static List<String> digestLines(String output) {
        return output.lines().filter(l -> l.matches("[0-9a-f]{8}  .*")).sorted().toList();
    }

    @Test
    void loadFromS3GivesTheDigestsOfTheLocalLoad() {
        assertEquals(0, run("load", dir.toString(), "--digest"), err.toString());
        List<String> local = digestLines(out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("load", "s3://models/ckpt", "--s3-endpoint", endpoint, "--s3-part-size", "256KiB",
                "--s3-concurrency", "4", "--digest"), err.toString());
        assertTrue(local.size() > 10, out.toString());
        assertEquals(local, digestLines(out.toString()));
        assertTrue(out.toString().contains(": s3 (object storage (s3://models/ckpt/), ranged GETs of 256 KiB, 4 in flight"),
                out.toString());
    }

    /**
     * The endpoint the AWS SDKs and CLI take from the environment, with no flag, in a process of its own and named by
     * host as a store usually is: it is addressed path-style, as a given one is. Left to the SDK, each bucket was asked
     * for as a host of its own ({@code models.localhost}), which no name server answers.
     */
    @Test
    void theEndpointTheEnvironmentConfiguresServesListingsAndGetsAlike() throws Exception {
        assertEquals(0, run("load", dir.toString(), "--digest"), err.toString());
        List<String> local = digestLines(out.toString());
        ProcessBuilder b = ChildJvm.main(Main.class).args("load", "s3://models/ckpt", "--digest").builder()
                .redirectError(tmp.resolve("env-endpoint.err").toFile())
                .redirectOutput(tmp.resolve("env-endpoint.out").toFile());
        b.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
        String byName = endpoint.replace("127.0.0.1", "localhost");
        b.environment().putAll(Map.of("AWS_ENDPOINT_URL_S3", byName, "AWS_ACCESS_KEY_ID", "test",
                "AWS_SECRET_ACCESS_KEY", "test-secret", "AWS_REGION", "us-east-1"));
        Process p = b.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the load did not end");
        assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("env-endpoint.err")));
        assertEquals(local, digestLines(Files.readString(tmp.resolve("env-endpoint.out"))));
    }

    /**
     * Credentials from a web identity, as EKS gives a pod (IRSA: a role and a token file, no keys), exchanged at STS,
     * here a stand-in on loopback that answers AssumeRoleWithWebIdentity with S3Proxy's keys; the AWS CLI takes these,
     * and the SDK's chain takes them only with its STS module present.
     */
    @Test
    void aWebIdentityAsEksGivesAPodIsExchangedForCredentials() throws Exception {
        assertEquals(0, run("load", dir.toString(), "--digest"), err.toString());
        List<String> local = digestLines(out.toString());
        HttpServer sts = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        sts.createContext("/", exchange -> {
            asked.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            byte[] body = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                    + "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>test</AccessKeyId>"
                    + "<SecretAccessKey>test-secret</SecretAccessKey><SessionToken>session</SessionToken>"
                    + "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser>"
                    + "<Arn>arn:aws:sts::123456789012:assumed-role/loader/pod</Arn><AssumedRoleId>AROA:pod"
                    + "</AssumedRoleId></AssumedRoleUser></AssumeRoleWithWebIdentityResult><ResponseMetadata>"
                    + "<RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "text/xml");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        sts.start();
        try {
            Path token = Files.writeString(tmp.resolve("web-identity-token"), "eyJhbGciOiJSUzI1NiJ9.pod.signature");
            ProcessBuilder b = ChildJvm.main(Main.class).args("load", "s3://models/ckpt", "--digest").builder()
                    .redirectError(tmp.resolve("irsa.err").toFile()).redirectOutput(tmp.resolve("irsa.out").toFile());
            b.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
            b.environment().putAll(Map.of("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/loader",
                    "AWS_WEB_IDENTITY_TOKEN_FILE", token.toString(), "AWS_REGION", "us-east-1",
                    "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:" + sts.getAddress().getPort(),
                    "AWS_ENDPOINT_URL_S3", endpoint));
            Process p = b.start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the load did not end");
            assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("irsa.err")));
            assertEquals(local, digestLines(Files.readString(tmp.resolve("irsa.out"))));
            assertTrue(asked.stream().anyMatch(a -> a.contains("Action=AssumeRoleWithWebIdentity")
                    && a.contains("WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.pod.signature")), asked.toString());
        } finally {
            sts.stop(0);
        }
    }

    @Test
    void streamingFromS3GivesTheDigestsOfTheLocalLoad() {
        assertEquals(0, run("load", dir.toString(), "--digest"), err.toString());
        List<String> local = digestLines(out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("load", "s3://models/ckpt", "--s3-endpoint", endpoint, "--sink", "stream",
                "--memory-budget", "1MiB", "--digest"), err.toString());
        assertEquals(local, digestLines(out.toString()));
    }

    @Test
    void loadJsonNamesEachObjectByItsUrlWithStrategyAndRule() {
        assertEquals(0, run("load", "s3://models/ckpt/", "--s3-endpoint", endpoint, "--json"), err.toString());
        String json = out.toString();
        assertTrue(json.contains("\"s3://models/ckpt/model-00001-of-"), json);
        assertFalse(json.contains("s3:/models"), json);
        assertTrue(json.matches("(?s).*\"strategy\":\\{\"s3://models/ckpt/[^\"]+\":\"s3\".*"), json);
        assertTrue(json.matches("(?s).*\"rule\":\\{\"s3://models/ckpt/[^\"]+\":\"remote\".*"), json);
    }

    @Test
    void getReadsOneTensorFromS3() {
        assertEquals(0, run("get", dir.toString(), "model.norm.weight"), err.toString());
        String local = out.toString();
        out.getBuffer().setLength(0);
        assertEquals(0, run("get", "s3://models/ckpt/", "model.norm.weight", "--s3-endpoint", endpoint),
                err.toString());
        assertEquals(local, out.toString());
        // A tensor it does not hold: the checkpoint is named by its URL, not by the path it is held as.
        err.getBuffer().setLength(0);
        assertEquals(2, run("get", "s3://models/ckpt/", "no.such.tensor", "--s3-endpoint", endpoint), err.toString());
        assertTrue(err.toString().startsWith("error: TensorNotFound: s3://models/ckpt"), err.toString());
    }

    /** The slice lands in the command's confined arena: read on the calling thread, not on the network's. */
    @Test
    void getReadsASliceFromS3() {
        assertEquals(0, run("get", dir.toString(), "model.embed_tokens.weight", "--slice", "0:4"), err.toString());
        String local = out.toString();
        out.getBuffer().setLength(0);
        for (String slice : new String[] {"0:4", "0:4,0:2", "1:3,:"}) {
            assertEquals(0, run("get", "s3://models/ckpt/", "model.embed_tokens.weight", "--slice", slice,
                    "--s3-endpoint", endpoint), slice + ": " + err);
        }
        assertTrue(out.toString().startsWith(local), out.toString());
        assertEquals("", err.toString());
    }

    @Test
    void reshardAndVerifyOfAnS3SourceAreUsageErrors() {
        assertEquals(2, run("reshard", "s3://models/ckpt/", tmp.resolve("out").toString(), "--world-size", "2",
                "--s3-endpoint", endpoint));
        assertEquals("error: Usage: reshard is not supported for s3:// sources; copy the checkpoint to a local folder"
                + " first", err.toString().strip());
        assertFalse(Files.exists(tmp.resolve("out")));
        err.getBuffer().setLength(0);
        assertEquals(2, run("verify", "s3://models/ckpt/", "--deep", "--s3-endpoint", endpoint));
        assertTrue(err.toString().startsWith("error: Usage: verify --deep is not supported for s3:// sources; "),
                err.toString());
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertEquals("", out.toString());
    }

    @Test
    void badS3DeadlinesAreUsageErrors() {
        assertEquals(2, run("inspect", "s3://models/ckpt/", "--s3-progress-timeout", "soon", "--s3-endpoint", endpoint));
        assertEquals("error: Usage: --s3-progress-timeout: not a duration: `soon` (e.g. 90s, 10m, 1h)",
                err.toString().strip());
        err.getBuffer().setLength(0);
        assertEquals(2, run("inspect", "s3://models/ckpt/", "--s3-min-rate", "0", "--s3-endpoint", endpoint));
        assertEquals("error: Usage: --s3-min-rate: must be at least 1 bytes, not 0", err.toString().strip());
    }

    /**
     * Retries are not printed (java.util.logging's console handler shows INFO and above; retries are logged below
     * it), and with {@code --verbose} each is one line.
     */
    @Test
    void retriesArePrintedOnlyWithVerboseOneLineEach() throws Exception {
        List<LogRecord> printable = new ArrayList<>();
        Handler console = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (isLoggable(r) && r.getLoggerName().startsWith("io.stload")) {
                    synchronized (printable) {
                        printable.add(r);
                    }
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        console.setLevel(Level.INFO);
        Logger root = Logger.getLogger("");
        root.addHandler(console);
        try (FaultProxy proxy = new FaultProxy(server.endpoint())) {
            Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
            // Each range of the first shard (the open's reads of its header, then its parts) throttled twice: the
            // client's own retry takes at most one, stload's the other. One shard: the open reads the shards one at
            // a time, and throttling every shard's header waited out a back-off for each, 2 s a load.
            proxy.rule(r -> r.range() != null && r.target().contains("-00001-of-") && attempts.computeIfAbsent(
                    r.target() + r.range(), k -> new AtomicInteger()).getAndIncrement() < 2
                    ? FaultProxy.Fault.SLOW_DOWN : FaultProxy.Fault.PASS);
            String ep = proxy.endpoint().toString();
            assertEquals(0, run("load", "s3://models/ckpt/", "--s3-endpoint", ep, "--s3-part-size", "256KiB"), err.toString());
            assertEquals("", err.toString());
            assertEquals(List.of(), printable);
            attempts.clear();
            assertEquals(0, run("load", "s3://models/ckpt/", "--s3-endpoint", ep, "--s3-part-size", "256KiB", "--verbose"),
                    err.toString());
            List<String> retries = err.toString().lines().filter(l -> l.contains("retrying")).toList();
            assertTrue(attempts.size() > 2 && retries.size() >= attempts.size(),
                    retries.size() + " retries printed for " + attempts.size() + " ranges throttled: " + err);
            retries.forEach(l -> assertTrue(l.matches("stload: \\[ObjectRead] s3://models/ckpt/\\S+: bytes \\d+-\\d+:"
                    + " HTTP 503 SlowDown; retrying the remaining \\d+ bytes in \\d+ ms \\(attempt [2-6] of 6\\)"), l));
        } finally {
            root.removeHandler(console);
            VerboseLog.show(null);
        }
    }

    @Test
    void planSaysS3WithItsReasons() {
        assertEquals(0, run("plan", "s3://models/ckpt/", "--s3-endpoint", endpoint), err.toString());
        assertTrue(out.toString().contains("-> s3"), out.toString());
        assertFalse(out.toString().contains("s3:/models"), out.toString());
        assertTrue(out.toString().contains("16 in flight"), out.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("plan", "s3://models/ckpt/", "--s3-endpoint", endpoint, "--json"), err.toString());
        assertTrue(out.toString().contains("\"strategy\":\"s3\",\"rule\":\"remote\""), out.toString());
    }

    @Test
    void aMissingObjectIsOneLineAndExitFour() {
        assertEquals(4, run("inspect", "s3://models/ckpt/absent.safetensors", "--s3-endpoint", endpoint));
        assertEquals("error: Io: s3://models/ckpt/absent.safetensors: no such object (404)", err.toString().strip());
    }

    @Test
    void aLocalStrategyForAnS3CheckpointIsAUsageError() {
        assertEquals(2, run("load", "s3://models/ckpt/", "--s3-endpoint", endpoint, "--load-strategy", "mmap"));
        assertTrue(err.toString().startsWith("error: Usage: strategy mmap reads local files"), err.toString());
    }
}
