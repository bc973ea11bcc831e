package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.HubFixture;
import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Several ranks of one node, each a real JVM running {@code stload}, on one hub cache: waiting for a peer's
 * download without reading its partial file, and reporting a damaged cache without touching it.
 */
class NodeRanksProcessTest {
    /** Two ranks at once: each of the cases below is about more than one process on one cache, not about how many. */
    private static final int RANKS = 2;

    @TempDir
    Path root;
    HubFixture hub;
    Path scratch;
    Path plain;

    @BeforeEach
    void cacheAndPlainCopy() throws IOException {
        hub = new HubFixture(Files.createDirectory(root.resolve("hub")));
        scratch = Files.createDirectory(root.resolve("scratch"));
        plain = Files.createDirectory(root.resolve("plain"));
        byte[] shard1 = HubFixture.shardBytes(plain, HubFixture.SHARD1, 1, "a.weight", "a.bias");
        HubFixture.shardBytes(plain, HubFixture.SHARD2, 2, "b.weight");
        hub.addFile(HubFixture.SHARD1, shard1);
        Map<String, String> index = Map.of("a.weight", HubFixture.SHARD1, "a.bias", HubFixture.SHARD1, "b.weight", HubFixture.SHARD2);
        hub.addIndex(index);
        StringBuilder json = new StringBuilder("{\"weight_map\":{");
        index.forEach((t, s) -> json.append(json.length() > 15 ? "," : "").append('"').append(t).append("\":\"")
                .append(s).append('"'));
        Files.writeString(plain.resolve("model.safetensors.index.json"), json.append("}}"));
    }

    /**
     * A rank: a JVM of its own running the CLI. Its waits poll every 20 ms rather than backing off to 2 s, so it sees
     * a peer's finished download or deep check at once (C1 alone and the serial collector come with {@link ChildJvm}).
     */
    private Process stload(String name, String... args) throws IOException {
        return ChildJvm.main(Main.class).options("-D" + SourceFlags.MAX_POLL_PROPERTY + "=20").args(args).builder()
                .redirectOutput(root.resolve(name + ".out").toFile())
                .redirectError(root.resolve(name + ".err").toFile()).start();
    }

    private String read(String name) throws IOException {
        return Files.readString(root.resolve(name), StandardCharsets.UTF_8);
    }

    private static String digests(String loadJson) {
        int at = loadJson.indexOf("\"digests\"");
        assertTrue(at >= 0, loadJson);
        return loadJson.substring(at, loadJson.indexOf('}', at) + 1);
    }

    private String referenceDigests() {
        StringWriter out = new StringWriter();
        int code = Main.run(new String[] {"load", "--digest", "--json", plain.toString()}, new PrintWriter(out),
                new PrintWriter(new StringWriter()));
        assertEquals(0, code);
        return digests(out.toString());
    }

    private static void exited(Process p, String what) throws InterruptedException {
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), what + " did not exit");
    }

    /**
     * Ranks find the shard half-downloaded by a peer (this JVM, holding the download's flock as huggingface_hub does):
     * each says it is waiting, and loads the complete shard once the download is done.
     */
    @Test
    void ranksWaitForAPeerDownloadThenLoadTheCompleteShard() throws Exception {
        List<Process> ranks = new ArrayList<>();
        try (PeerDownload download = PeerDownload.begin(hub, HubFixture.SHARD2, Files.readAllBytes(plain.resolve(HubFixture.SHARD2)))) {
            for (int r = 0; r < RANKS; r++) {
                ranks.add(stload("rank" + r, "load", "--digest", "--json", "--cache-dir", hub.cache.toString(),
                        "--wait-timeout", "90s", HubFixture.REPO));
            }
            // Finish the download only once every rank has seen it half-written and said it is waiting.
            for (int r = 0; r < RANKS; r++) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (!read("rank" + r + ".err").contains("waiting")) {
                    assertTrue(ranks.get(r).isAlive(), "rank " + r + " exited: " + read("rank" + r + ".err"));
                    assertTrue(System.nanoTime() < deadline, "rank " + r + " never waited");
                    ranks.get(r).waitFor(20, TimeUnit.MILLISECONDS); // its stderr is a file: nothing to wait on
                }
            }
            download.finish();
            String reference = referenceDigests();
            for (int r = 0; r < RANKS; r++) {
                exited(ranks.get(r), "rank " + r);
                assertEquals(0, ranks.get(r).exitValue(), read("rank" + r + ".err"));
                assertEquals(reference, digests(read("rank" + r + ".out")));
                assertTrue(read("rank" + r + ".out").contains("\"commit\":\"" + HubFixture.COMMIT + "\""));
            }
        } finally {
            ranks.forEach(Process::destroyForcibly);
        }
    }

    enum Damage {
        CORRUPTED_BLOB, TRUNCATED_SHARD, MISSING_SHARD, DANGLING_SYMLINK, INDEX_NAMES_FILE_OUTSIDE
    }

    @ParameterizedTest
    @EnumSource(Damage.class)
    void everyRankReportsADamagedCacheAndNothingInItChanges(Damage damage) throws Exception {
        byte[] shard2 = Files.readAllBytes(plain.resolve(HubFixture.SHARD2));
        Path blob = hub.addFile(HubFixture.SHARD2, shard2).toRealPath();
        String expected = switch (damage) {
            case CORRUPTED_BLOB -> {
                byte[] bad = shard2.clone();
                byte[] noise = new byte[4096];
                new java.util.Random(7).nextBytes(noise);
                System.arraycopy(noise, 0, bad, bad.length - noise.length, noise.length);
                Files.write(blob, bad);
                yield "DigestMismatch";
            }
            case TRUNCATED_SHARD -> {
                Files.write(blob, java.util.Arrays.copyOf(shard2, shard2.length / 2));
                yield blob.getFileName().toString();
            }
            case MISSING_SHARD -> {
                Files.delete(hub.snapshot.resolve(HubFixture.SHARD2));
                Files.delete(blob);
                yield "hf download acme/tiny --revision " + HubFixture.COMMIT;
            }
            case DANGLING_SYMLINK -> {
                Files.delete(blob);
                yield "dangling symlink";
            }
            case INDEX_NAMES_FILE_OUTSIDE -> {
                Files.write(root.resolve("outside.safetensors"), shard2);
                Files.delete(hub.snapshot.resolve("model.safetensors.index.json"));
                hub.addIndex(Map.of("a.weight", HubFixture.SHARD1, "a.bias", HubFixture.SHARD1, "b.weight", "../../../../outside.safetensors"));
                yield "UnsafePath";
            }
        };
        String before = treeHash(hub.cache);
        List<Process> ranks = new ArrayList<>();
        for (int r = 0; r < RANKS; r++) {
            // Random bytes over a data area leave headers valid: only hashing can see them.
            boolean verify = damage == Damage.CORRUPTED_BLOB || r % 2 == 1;
            ranks.add(verify
                    ? stload("rank" + r, "verify", "--deep", "--cache-dir", hub.cache.toString(), HubFixture.REPO)
                    : stload("rank" + r, "load", "--cache-dir", hub.cache.toString(), HubFixture.REPO));
        }
        for (int r = 0; r < ranks.size(); r++) {
            Process p = ranks.get(r);
            exited(p, "rank " + r);
            String out = read("rank" + r + ".out") + read("rank" + r + ".err");
            boolean verify = damage == Damage.CORRUPTED_BLOB || r % 2 == 1;
            if (verify) {
                assertEquals(1, p.exitValue(), out);
            } else {
                assertNotEquals(0, p.exitValue(), out);
                assertTrue(p.exitValue() == 3 || p.exitValue() == 4, out);
            }
            assertTrue(out.contains(expected), "rank " + r + " should report `" + expected + "`:\n" + out);
        }
        assertEquals(before, treeHash(hub.cache), "the cache changed");
    }

    /**
     * Names, symlink targets, sizes and contents of everything in the cache, except stload's own
     * coordination lock, the one file it may create there (in {@code .locks/<repo folder>/}).
     */
    private static String treeHash(Path cache) throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> s = Files.walk(cache)) {
            for (Path p : s.sorted().toList()) {
                Path rel = cache.relativize(p);
                // The lock and the repo's folder in .locks/ it may make (as a download would).
                if (rel.startsWith(".locks") && (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)
                        || p.getFileName().toString().startsWith("stload-deep-check-"))) {
                    continue;
                }
                all.append(rel);
                if (Files.isSymbolicLink(p)) {
                    all.append(" -> ").append(Files.readSymbolicLink(p));
                } else if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    all.append(' ').append(HubFixture.sha256(Files.readAllBytes(p)));
                }
                all.append('\n');
            }
        }
        return HubFixture.sha256(all.toString().getBytes(StandardCharsets.UTF_8));
    }
}
