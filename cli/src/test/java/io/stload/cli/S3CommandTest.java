package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.s3.S3ProxyServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code load}, {@code plan} and {@code inspect} of an s3:// checkpoint served by S3Proxy on loopback. */
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
