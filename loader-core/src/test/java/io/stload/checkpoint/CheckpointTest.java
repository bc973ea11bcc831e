package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which files make up a checkpoint: one file, a directory with an index, or a directory without one. */
class CheckpointTest {
    @TempDir
    Path root;
    Path ckpt;

    @BeforeEach
    void createCheckpointDirectory() throws IOException {
        ckpt = Files.createDirectory(root.resolve("ckpt"));
    }

    private Path shard(Path dir, String file, String... tensors) throws IOException {
        List<TensorData> data = new java.util.ArrayList<>();
        for (String t : tensors) {
            data.add(new TensorData(t, DType.F32, new long[] {2}, new byte[8]));
        }
        Path p = dir.resolve(file);
        SafetensorsWriter.write(p, Map.of("format", "pt"), data);
        return p;
    }

    /** An index mapping tensor i to shard i+1 of the pairs given: tensor, shard, tensor, shard... */
    private Path index(String name, String... tensorShardPairs) throws IOException {
        StringBuilder json = new StringBuilder("{\"metadata\":{\"total_size\":0},\"weight_map\":{");
        for (int i = 0; i < tensorShardPairs.length; i += 2) {
            json.append(i == 0 ? "" : ",").append('"').append(tensorShardPairs[i]).append("\":\"")
                    .append(tensorShardPairs[i + 1].replace("\\", "\\\\")).append('"');
        }
        return Files.writeString(ckpt.resolve(name), json.append("}}").toString());
    }

    /**
     * {@code link/../ckpt} names the checkpoint beside the link's target, as open(2) takes it; its shards are found
     * there too, not beside the link, where a textual {@code normalize} would look (and did: refused as unsafe, or
     * an indexed and an unindexed folder each met an internal error).
     */
    @Test
    void aDotDotAfterALinkIsTakenAsTheKernelTakesIt() throws IOException {
        Path deep = Files.createDirectories(root.resolve("deep/a"));
        Files.createSymbolicLink(root.resolve("link"), deep);
        Path there = Files.createDirectory(root.resolve("deep/ckpt"));
        shard(there, "model-00001-of-00002.safetensors", "a");
        shard(there, "model-00002-of-00002.safetensors", "b");
        Files.writeString(there.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        shard(ckpt, "model.safetensors", "elsewhere"); // beside the link: what a textual `..` would name
        for (String form : List.of("link/../ckpt", "link/../ckpt/model-00001-of-00002.safetensors")) {
            try (Checkpoint c = Checkpoint.open(root.resolve(form))) {
                assertTrue(c.tensors().containsKey("a") && !c.tensors().containsKey("elsewhere"), form);
            }
        }
        Files.delete(there.resolve("model.safetensors.index.json")); // unindexed: the folder is listed
        try (Checkpoint c = Checkpoint.open(root.resolve("link/../ckpt"))) {
            assertEquals(List.of("a", "b"), List.copyOf(c.tensors().keySet()));
        }
        assertEquals(root.resolve("deep/ckpt").toRealPath(), FileChecks.kernelPath(root.resolve("link/../ckpt")));
        Path plain = Path.of("relative/without/dots");
        assertEquals(plain, FileChecks.kernelPath(plain), "a path without `..` is left as the user wrote it");
    }

    private StloadException rejected(ErrorKind kind) {
        StloadException e = assertThrows(StloadException.class, () -> Checkpoint.open(ckpt));
        assertEquals(kind, e.kind(), e.getMessage());
        return e;
    }

    @Test
    void singleFileIsACheckpointOfOne() throws IOException {
        Path file = shard(ckpt, "model.safetensors", "a", "b");
        Checkpoint c = Checkpoint.open(file);
        assertEquals(1, c.files().size());
        assertNull(c.index());
        assertEquals(List.of("a", "b"), List.copyOf(c.tensors().keySet()));
        assertEquals(16, c.totalBytes());
        assertEquals(file, c.tensor("b").file().file());
        assertEquals(c.files().get(0).dataStart() + 8, c.tensor("b").fileOffset());
    }

    /** Without an index, shards named NAME-0000k-of-0000N say there are N: one missing is a missing shard. */
    @Test
    void aSeriesOfShardsWithOneMissingIsAMissingShardEvenWithoutAnIndex() throws IOException {
        shard(ckpt, "model-00001-of-00003.safetensors", "a");
        shard(ckpt, "model-00003-of-00003.safetensors", "c");
        StloadException e = rejected(ErrorKind.MissingShard);
        assertEquals(ckpt.resolve("model-00002-of-00003.safetensors"), e.file());
        shard(ckpt, "model-00002-of-00003.safetensors", "b");
        assertEquals(3, Checkpoint.open(ckpt).tensors().size());
    }

    /** An arena that cannot own a mapping (closed, or confined to another thread) is the caller's misuse. */
    @Test
    void mappingIntoAClosedOrAnotherThreadsArenaIsUsage() throws Exception {
        try (Checkpoint c = Checkpoint.open(shard(ckpt, "model.safetensors", "a"));
             Arena mine = Arena.ofConfined()) {
            Header file = c.files().getFirst();
            Arena closed = Arena.ofConfined();
            closed.close();
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> file.map(closed)).kind());
            CompletableFuture<ErrorKind> other = CompletableFuture.supplyAsync(
                    () -> assertThrows(StloadException.class, () -> file.map(mine)).kind());
            assertEquals(ErrorKind.Usage, other.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void indexWithAllShardsPresentOpens() throws IOException {
        shard(ckpt, "model-00001-of-00002.safetensors", "a", "b");
        shard(ckpt, "model-00002-of-00002.safetensors", "c");
        Path index = index("model.safetensors.index.json",
                "c", "model-00002-of-00002.safetensors", "a", "model-00001-of-00002.safetensors", "b", "model-00001-of-00002.safetensors");
        Checkpoint c = Checkpoint.open(ckpt);
        assertEquals(index, c.index());
        assertEquals(List.of("a", "b", "c"), List.copyOf(c.tensors().keySet()));
        assertEquals(ckpt.resolve("model-00002-of-00002.safetensors"), c.tensor("c").file().file());
        assertEquals(24, c.totalBytes());
    }

    @Test
    void filesBesideTheIndexThatItDoesNotNameAreNotPartOfTheCheckpoint() throws IOException {
        shard(ckpt, "model-00001-of-00001.safetensors", "a");
        shard(ckpt, "consolidated.safetensors", "a");
        index("model.safetensors.index.json", "a", "model-00001-of-00001.safetensors");
        assertEquals(1, Checkpoint.open(ckpt).files().size());
    }

    @Test
    void missingShardIsNamed() throws IOException {
        shard(ckpt, "model-00001-of-00002.safetensors", "a");
        index("model.safetensors.index.json", "a", "model-00001-of-00002.safetensors", "b", "model-00002-of-00002.safetensors");
        StloadException e = rejected(ErrorKind.MissingShard);
        assertEquals(ckpt.resolve("model-00002-of-00002.safetensors"), e.file());
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors") && e.getMessage().contains("`b`"), e.getMessage());
    }

    @Test
    void tensorMappedToAShardThatLacksItIsAnInvalidIndex() throws IOException {
        shard(ckpt, "s1.safetensors", "a");
        shard(ckpt, "s2.safetensors", "b");
        index("model.safetensors.index.json", "a", "s1.safetensors", "b", "s2.safetensors", "c", "s2.safetensors");
        StloadException e = rejected(ErrorKind.InvalidIndex);
        assertEquals(ckpt.resolve("s2.safetensors"), e.file());
        assertTrue(e.getMessage().contains("`c`"), e.getMessage());
    }

    @Test
    void tensorOfAShardThatTheIndexDoesNotNameIsLeftOutAndNoted() throws IOException {
        shard(ckpt, "s1.safetensors", "a", "extra");
        index("model.safetensors.index.json", "a", "s1.safetensors");
        Checkpoint c = Checkpoint.open(ckpt);
        assertEquals(List.of("a"), List.copyOf(c.tensors().keySet()));
        assertEquals(Map.of("s1.safetensors", List.of("extra")), c.unindexedTensors());
        assertTrue(c.find("extra").isEmpty());
    }

    @Test
    void tensorInTwoShardsIsTakenFromTheOneTheIndexNames() throws IOException {
        shard(ckpt, "s1.safetensors", "a", "b");
        shard(ckpt, "s2.safetensors", "b", "c");
        index("model.safetensors.index.json", "a", "s1.safetensors", "b", "s1.safetensors", "c", "s2.safetensors");
        Checkpoint c = Checkpoint.open(ckpt);
        assertEquals(List.of("a", "b", "c"), List.copyOf(c.tensors().keySet()));
        assertEquals(ckpt.resolve("s1.safetensors"), c.tensor("b").file().file());
        assertEquals(Map.of("s2.safetensors", List.of("b")), c.unindexedTensors());
    }

    @Test
    void indexMappingNoTensorIsAnInvalidIndex() throws IOException {
        shard(ckpt, "s1.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"), "{\"metadata\":{},\"weight_map\":{}}");
        assertTrue(rejected(ErrorKind.InvalidIndex).getMessage().contains("empty"));
    }

    @Test
    void indexMetadataIsKept() throws IOException {
        shard(ckpt, "s1.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"),
                "{\"metadata\":{\"total_size\":8,\"format\":\"pt\",\"nested\":{}},\"weight_map\":{\"a\":\"s1.safetensors\"}}");
        assertEquals(Map.of("total_size", "8", "format", "pt"), Checkpoint.open(ckpt).indexMetadata());
    }

    @Test
    void aMissingTensorIsAnErrorNamingIt() throws IOException {
        Checkpoint c = Checkpoint.open(shard(ckpt, "model.safetensors", "a"));
        StloadException e = assertThrows(StloadException.class, () -> c.tensor("nope"));
        assertEquals(ErrorKind.TensorNotFound, e.kind());
        assertTrue(e.getMessage().contains("`nope`"), e.getMessage());
        assertThrows(StloadException.class, () -> c.info("nope"));
        assertThrows(StloadException.class, () -> c.view("nope"));
    }

    @Test
    void shardNamesLeavingTheDirectoryAreRefusedWithoutOpeningThem() throws IOException {
        // The outside file is too short to be a safetensors file: had its header been read, the error
        // would be HeaderTooSmall, not UnsafePath.
        Path outside = Files.write(root.resolve("outside.safetensors"), new byte[3]);
        for (String name : List.of("../outside.safetensors", outside.toString(), "sub/../../outside.safetensors",
                "..\\outside.safetensors", "", ".", "sub/..")) {
            index("model.safetensors.index.json", "a", name);
            StloadException e = rejected(ErrorKind.UnsafePath);
            assertEquals(ckpt.resolve("model.safetensors.index.json"), e.file(), name);
        }
    }

    @Test
    void theCurrentDirectoryNamedAsDotHoldsItsShards() {
        // `cd CKPT && stload inspect .`: "." normalizes to the empty path, which no shard path starts with.
        Path index = Path.of("model.safetensors.index.json");
        for (String dir : List.of(".", "./", "")) {
            assertEquals(Path.of("s1.safetensors"), CheckpointFiles.resolveInside(Path.of(dir), "s1.safetensors", index), dir);
            assertEquals(Path.of("sub/s1.safetensors"), CheckpointFiles.resolveInside(Path.of(dir), "sub/s1.safetensors",
                    index), dir);
            for (String escaping : List.of("../s1.safetensors", ".", "sub/..", "/s1.safetensors")) {
                StloadException e = assertThrows(StloadException.class,
                        () -> CheckpointFiles.resolveInside(Path.of(dir), escaping, index), dir + " " + escaping);
                assertEquals(ErrorKind.UnsafePath, e.kind());
            }
        }
    }

    @Test
    void aShardNameWithAControlCharacterIsAnInvalidIndexNamingIt() throws IOException {
        shard(ckpt, "s1.safetensors", "a");
        for (String name : List.of("s1\\u0000.safetensors", "s1.safetensors\\u0000", "s\\u001b[2J1.safetensors",
                "s1\\n.safetensors", "s1\\u007f.safetensors", "s1\\u0085.safetensors")) {
            // Written as JSON escapes: the JSON is valid, the name it holds is not a file name.
            Files.writeString(ckpt.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"" + name + "\"}}");
            StloadException e = rejected(ErrorKind.InvalidIndex);
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            assertTrue(e.getMessage().contains("control character"), e.getMessage());
            assertTrue(e.getMessage().chars().noneMatch(c -> c < 0x20 || (c >= 0x7f && c < 0xa0)), e.getMessage());
        }
        assertTrue(rejected(ErrorKind.InvalidIndex).getMessage().contains("`s1\\x85.safetensors`"),
                "escaped as the CLI escapes");
    }

    @Test
    void shardInASubdirectoryIsFine() throws IOException {
        shard(Files.createDirectory(ckpt.resolve("sub")), "s.safetensors", "a");
        index("model.safetensors.index.json", "a", "sub/s.safetensors");
        assertEquals(ckpt.resolve("sub/s.safetensors"), Checkpoint.open(ckpt).tensor("a").file().file());
    }

    @Test
    void unreadableOrMalformedIndexIsAnInvalidIndex() throws IOException {
        for (String json : List.of("[]", "{}", "{\"weight_map\":[]}", "{\"weight_map\":{\"a\":1}}",
                "{\"weight_map\":{}} x", "{\"weight_map\":{},\"weight_map\":{}}", "{")) {
            Files.writeString(ckpt.resolve("model.safetensors.index.json"), json);
            assertEquals(ErrorKind.InvalidIndex, assertThrows(StloadException.class, () -> Checkpoint.open(ckpt)).kind(), json);
        }
    }

    @Test
    void tensorTwiceInTheWeightMapIsADuplicate() throws IOException {
        shard(ckpt, "s1.safetensors", "a");
        Files.writeString(ckpt.resolve("model.safetensors.index.json"),
                "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s1.safetensors\"}}");
        rejected(ErrorKind.DuplicateTensorName);
    }

    @Test
    void unindexedDirectoryIsAllItsSafetensorsFiles() throws IOException {
        shard(ckpt, "b.safetensors", "y");
        shard(ckpt, "a.safetensors", "x");
        Files.writeString(ckpt.resolve("README.md"), "not a shard");
        Checkpoint c = Checkpoint.open(ckpt);
        assertNull(c.index());
        assertEquals(List.of(ckpt.resolve("a.safetensors"), ckpt.resolve("b.safetensors")),
                c.files().stream().map(h -> h.file()).toList());
        assertEquals(List.of("x", "y"), List.copyOf(c.tensors().keySet()));
    }

    @Test
    void sameTensorInTwoUnindexedFilesIsADuplicate() throws IOException {
        shard(ckpt, "a.safetensors", "x", "shared");
        shard(ckpt, "b.safetensors", "shared");
        StloadException e = rejected(ErrorKind.DuplicateTensorName);
        assertEquals(ckpt.resolve("b.safetensors"), e.file());
        assertTrue(e.getMessage().contains("`shared`") && e.getMessage().contains("a.safetensors"), e.getMessage());
    }

    @Test
    void directoryWithoutAnyShardIsMissingShards() {
        rejected(ErrorKind.MissingShard);
    }

    @Test
    void missingPathIsAnIoError() {
        StloadException e = assertThrows(StloadException.class, () -> Checkpoint.open(root.resolve("nope")));
        assertEquals(ErrorKind.Io, e.kind());
    }

    @Test
    void theDefaultIndexNameWinsOverOthers() throws IOException {
        shard(ckpt, "s.safetensors", "a");
        index("model.safetensors.index.json", "a", "s.safetensors");
        index("pytorch_model.safetensors.index.json", "b", "missing.safetensors");
        assertEquals(ckpt.resolve("model.safetensors.index.json"), Checkpoint.open(ckpt).index());
    }

    @Test
    void aSingleOtherIndexIsUsed() throws IOException {
        shard(ckpt, "s.safetensors", "a");
        Path index = index("diffusion_pytorch_model.safetensors.index.json", "a", "s.safetensors");
        assertEquals(index, Checkpoint.open(ckpt).index());
    }

    @Test
    void severalIndexesWithoutTheDefaultAreAmbiguous() throws IOException {
        shard(ckpt, "s.safetensors", "a");
        index("a.safetensors.index.json", "a", "s.safetensors");
        index("b.safetensors.index.json", "a", "s.safetensors");
        StloadException e = rejected(ErrorKind.InvalidIndex);
        assertTrue(e.getMessage().contains("a.safetensors.index.json") && e.getMessage().contains("b.safetensors.index.json"));
    }

    @Test
    void invalidShardReportsItsOwnKindAndFile() throws IOException {
        Path bad = Files.write(ckpt.resolve("bad.safetensors"), new byte[3]);
        shard(ckpt, "good.safetensors", "a");
        StloadException e = rejected(ErrorKind.HeaderTooSmall);
        assertEquals(bad, e.file());
    }
}
