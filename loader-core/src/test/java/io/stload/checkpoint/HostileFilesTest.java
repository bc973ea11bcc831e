package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.HeaderParser;
import io.stload.nativeio.NativeAccess;
import io.stload.plan.PartitionSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * FIFOs where files belong, symlink loops, and hub refs that are huge, foreign or links out of {@code refs/}:
 * each is one error naming what it is, and nothing blocks (an open of a FIFO would wait for a writer forever,
 * so a failure here is a timeout on a separate thread).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HostileFilesTest {
    @TempDir
    Path root;
    HubFixture hub;

    @BeforeEach
    void cache() throws IOException {
        hub = new HubFixture(Files.createDirectory(root.resolve("hub")));
        Path scratch = Files.createDirectory(root.resolve("scratch"));
        hub.addFile("model.safetensors", HubFixture.shardBytes(scratch, "a", 1, "a.weight"));
    }

    static Path mkfifo(Path p) throws IOException, InterruptedException {
        Files.createDirectories(p.getParent());
        assertEquals(0, new ProcessBuilder("mkfifo", p.toString()).inheritIO().start().waitFor());
        return p;
    }

    private static StloadException refused(ErrorKind kind, Executable open) {
        StloadException e = assertThrows(StloadException.class, open);
        assertEquals(kind, e.kind(), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e;
    }

    /** A store's listing names what is read, as an index does: a key that leaves the folder is refused alike. */
    @Test
    void aListedNameThatLeavesTheFolderIsRefusedAsAnIndexedOneIs() throws IOException {
        Path folder = Files.createDirectory(root.resolve("m"));
        Path evil = Files.createDirectory(root.resolve("evil"));
        HubFixture.shardBytes(evil, "model.safetensors", 1, "e.weight");
        HubFixture.shardBytes(folder, "model.safetensors", 1, "a.weight");
        LocalRemoteFolder listing = new LocalRemoteFolder(folder, "remote://b/m/", 2, 1 << 20, 0) {
            @Override
            public List<String> list(String suffix) throws IOException {
                List<String> names = new ArrayList<>(super.list(suffix));
                if (suffix.equals(".safetensors")) {
                    names.add("../evil/model.safetensors");
                }
                return names;
            }
        };
        StloadException e = refused(ErrorKind.UnsafePath, () -> Checkpoint.open(listing, null).close());
        assertTrue(e.getMessage().contains("`../evil/model.safetensors` is no plain name in the checkpoint folder"),
                e.getMessage());
    }

    /** --partition auto reads config.json as the weights are read: a link out of the folder is not followed. */
    @Test
    void aConfigLinkedOutOfTheFolderIsNeverRead() throws IOException {
        Path folder = Files.createDirectory(root.resolve("linked-config"));
        HubFixture.shardBytes(folder, "model.safetensors", 1, "a.weight");
        Path secret = Files.writeString(root.resolve("secret.json"), "root:x:0:0");
        Files.createSymbolicLink(folder.resolve("config.json"), secret);
        try (Checkpoint c = Checkpoint.open(folder)) {
            StloadException e = refused(ErrorKind.UnsafePath, () -> PartitionSpec.load("auto", c));
            assertFalse(e.getMessage().contains("root:x"), e.getMessage());
            assertEquals(java.util.Optional.empty(), c.fileBeside("tokenizer.json"));
            refused(ErrorKind.Usage, () -> c.fileBeside("../secret.json"));
            refused(ErrorKind.Usage, () -> c.fileBeside("con\0fig.json"));
            Files.createSymbolicLink(folder.resolve("dangling.json"), folder.resolve("nothing-there.json"));
            assertEquals(java.util.Optional.empty(), c.fileBeside("dangling.json"), "no file: the caller's to say");
            Files.createDirectory(folder.resolve("folder.json"));
            refused(ErrorKind.Io, () -> c.fileBeside("folder.json"));
        }
        // Beside a single file, which is itself read wherever it links to, so is its config.
        try (Checkpoint single = Checkpoint.open(folder.resolve("model.safetensors"))) {
            assertEquals(java.util.Optional.of(folder.resolve("config.json")), single.fileBeside("config.json"));
        }
    }

    @Test
    void anEmptyPathIsRefusedNotTakenAsTheWorkingFolderAndANulIsAUsageError() {
        // The working folder the tests run in holds a module's build: were "" taken as it, the outcome would be that
        // folder's, never Usage.
        for (String path : List.of("", "model\0.safetensors")) {
            StloadException e = refused(ErrorKind.Usage,
                    () -> CheckpointSource.resolve(path, null, WaitPolicy.of(Duration.ZERO)));
            assertTrue(e.getMessage().contains(path.isEmpty() ? "path is empty; for the working folder, say `.`"
                    : "cannot name a checkpoint"), e.getMessage());
            refused(ErrorKind.Usage, () -> CheckpointVerifier.verify(path, null, false, 1, WaitPolicy.of(Duration.ZERO),
                    CheckpointVerifier.HashProgress.NONE));
            refused(ErrorKind.Usage, () -> PartitionSpec.load(path));
        }
    }

    @Test
    void aFifoAsCheckpointIndexOrPartitionFileIsRefusedWithoutOpeningIt() throws Exception {
        Path fifo = mkfifo(root.resolve("model.safetensors"));
        for (Executable open : new Executable[] {() -> HeaderParser.read(fifo), () -> Checkpoint.open(fifo),
                () -> PartitionSpec.load(fifo.toString())}) {
            StloadException e = refused(ErrorKind.Io, open);
            assertTrue(e.getMessage().contains("is a FIFO (named pipe), not a regular file"), e.getMessage());
        }
        // A checkpoint's own index or shard that is a FIFO: an I/O error, as docs/cli.md has it (exit 4), not an
        // invalid index.
        Path dir = Files.createDirectory(root.resolve("sharded"));
        mkfifo(dir.resolve("model.safetensors.index.json"));
        StloadException index = refused(ErrorKind.Io, () -> Checkpoint.open(dir));
        assertTrue(index.getMessage().contains("is a FIFO (named pipe)"), index.getMessage());
        Path shards = Files.createDirectory(root.resolve("shards"));
        Files.writeString(shards.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"a.safetensors\"}}");
        mkfifo(shards.resolve("a.safetensors"));
        StloadException shard = refused(ErrorKind.Io, () -> Checkpoint.open(shards));
        assertTrue(shard.getMessage().contains("is a FIFO (named pipe)"), shard.getMessage());
        Path link = Files.createSymbolicLink(root.resolve("link.safetensors"), fifo);
        refused(ErrorKind.Io, () -> Checkpoint.open(link));
        // With no index, beside a good shard: refused alike, where it was passed over and the rest loaded.
        for (String odd : List.of("fifo", "folder", "link to a folder")) {
            Path unindexed = Files.createDirectory(root.resolve("unindexed-" + odd));
            HubFixture.shardBytes(unindexed, "x.safetensors", 1, "x.weight");
            switch (odd) {
                case "fifo" -> mkfifo(unindexed.resolve("y.safetensors"));
                case "folder" -> Files.createDirectory(unindexed.resolve("y.safetensors"));
                default -> Files.createSymbolicLink(unindexed.resolve("y.safetensors"),
                        Files.createDirectory(unindexed.resolve("sub")));
            }
            StloadException e = refused(ErrorKind.Io, () -> Checkpoint.open(unindexed));
            assertTrue(e.getMessage().contains("y.safetensors"), e.getMessage());
            assertFalse(CheckpointVerifier.verify(unindexed.toString(), null, false, 1, WaitPolicy.of(Duration.ZERO),
                    CheckpointVerifier.HashProgress.NONE).clean(), odd);
        }
    }

    @Test
    void anIndexOfHundredsOfThousandsOfEntriesIsRefusedWithinTheBound() throws Exception {
        Path dir = Files.createDirectory(root.resolve("indexed"));
        StringBuilder json = new StringBuilder("{\"weight_map\":{");
        for (int i = 0; i < 200_000; i++) {
            json.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":\"a.safetensors\"");
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), json.append("}}"));
        StloadException e = refused(ErrorKind.HeaderTooLarge, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("weight_map"), e.getMessage());
    }

    @Test
    void aNulInAShardNameIsAnInvalidIndex() throws Exception {
        Path dir = Files.createDirectory(root.resolve("nul"));
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"a\": \"a\\u0000.safetensors\"}}");
        StloadException e = refused(ErrorKind.InvalidIndex, () -> Checkpoint.open(dir));
        assertTrue(e.getMessage().contains("holds a control character (U+0000"), e.getMessage());
    }

    @Test
    void invalidIndexJsonNamesTheRealBytePosition() throws Exception {
        Path dir = Files.createDirectory(root.resolve("broken"));
        // Non-ASCII before the fault: a byte is not a character.
        String json = "{\"metadata\": {\"total_size\": " + "1".repeat(10) + ", \"note\": \"é☃\ud83d\ude00\"},"
                + " \"weight_map\": {\"a\": oops}}";
        Files.writeString(dir.resolve("model.safetensors.index.json"), json);
        StloadException e = refused(ErrorKind.InvalidIndex, () -> Checkpoint.open(dir));
        int bad = json.substring(0, json.indexOf("oops")).getBytes(StandardCharsets.UTF_8).length;
        assertTrue(e.getMessage().contains("at byte " + bad), e.getMessage());
    }

    @Test
    void aSymlinkLoopSaysSo() throws Exception {
        Path a = root.resolve("a.safetensors");
        Files.createSymbolicLink(a, root.resolve("b.safetensors"));
        Files.createSymbolicLink(root.resolve("b.safetensors"), a);
        StloadException e = refused(ErrorKind.Io, () -> Checkpoint.open(a));
        assertTrue(e.getMessage().contains("symlink loop"), e.getMessage());
        assertFalse(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void lockProbesNeverBlockOnAFifo() throws Exception {
        Path fifo = mkfifo(root.resolve("x.lock"));
        for (NativeAccess os : new NativeAccess[] {NativeAccess.get(), NativeAccess.fallback("test")}) {
            IOException e = assertThrows(IOException.class, () -> os.tryLock(fifo, false));
            assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
        }
        // A FIFO among a download's locks is no lock anyone holds: the repo resolves without waiting.
        mkfifo(hub.cache.resolve(".locks/models--acme--tiny/y.lock"));
        List<String> log = new ArrayList<>();
        Checkpoint ckpt = CheckpointSource.resolve("acme/tiny", hub.cache,
                WaitPolicy.of(Duration.ofSeconds(5)).withLog(log::add), Map.of(), NativeAccess.get());
        assertEquals(1, ckpt.tensors().size());
        assertEquals(1, log.size(), "named its commit, and never waited: " + log);
        assertTrue(log.getFirst().startsWith("acme/tiny@main is commit " + HubFixture.COMMIT), log.getFirst());
    }

    @Test
    void refsThatAreHugeForeignOrLinksOutOfRefsAreInvalidAndNeverEchoed() throws Exception {
        Path ref = hub.repoDir.resolve("refs/main");
        Path secret = Files.writeString(root.resolve("shadow"), "root:*:20000:0:99999:7:::\n");
        String[] contents = {"x".repeat(5000), "root:*:20000:0:99999:7:::", HubFixture.COMMIT + "\nextra line",
                "\u001b[31mred\u001b[0m"};
        for (String content : contents) {
            Files.writeString(ref, content);
            StloadException e = refused(ErrorKind.InvalidRef, () -> new HubCache(hub.cache).snapshot(RepoRef.parse("acme/tiny").orElseThrow()));
            assertFalse(e.getMessage().contains("root:") || e.getMessage().contains("xxxx")
                    || e.getMessage().contains("red"), e.getMessage());
        }
        Files.delete(ref);
        Files.createSymbolicLink(ref, secret);
        StloadException e = refused(ErrorKind.InvalidRef, () -> new HubCache(hub.cache).snapshot(RepoRef.parse("acme/tiny").orElseThrow()));
        assertTrue(e.getMessage().contains("outside refs/"), e.getMessage());
        assertFalse(e.getMessage().contains("root:"), e.getMessage());
        Files.delete(ref);
        mkfifo(ref);
        refused(ErrorKind.InvalidRef, () -> new HubCache(hub.cache).snapshot(RepoRef.parse("acme/tiny").orElseThrow()));
    }
}
