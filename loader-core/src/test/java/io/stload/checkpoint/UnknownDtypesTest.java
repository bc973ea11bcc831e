package io.stload.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.Shape;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import io.stload.format.UnknownDtypes;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensors of a dtype the format does not define (Jlama's own {@code "Q4"}, say): refused by default, as the reference
 * implementation refuses them; on request, let through as raw bytes with their declared shape and dtype spelling,
 * read, loaded, streamed and replicated whole, but never sliced, split or converted.
 */
class UnknownDtypesTest {
    @TempDir
    Path dir;
    Path file;
    /** 4 x 8 four-bit values, two to a byte: 16 bytes, which the loader does not need to know. */
    final byte[] q4 = new byte[16];

    @BeforeEach
    void write() throws IOException {
        for (int i = 0; i < q4.length; i++) {
            q4[i] = (byte) (0x10 * i + 7);
        }
        file = raw(dir.resolve("q4.safetensors"), """
                {"w.q":{"dtype":"Q4","shape":[4,8],"data_offsets":[0,16]},\
                "w.scale":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}""", 32);
    }

    /** A file of exactly this header and {@code data} bytes: q4, then 4 floats 1, 2, 3, 4. */
    private Path raw(Path path, String header, int data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        b.put(q4, 0, Math.min(16, data));
        for (int i = 0; i < (data - 16) / 4; i++) {
            b.putFloat(i + 1);
        }
        return Files.write(path, b.array());
    }

    @Test
    void refusedByDefaultAsTheReferenceDoes() {
        StloadException e = assertThrows(StloadException.class, () -> Checkpoint.open(file));
        assertEquals(ErrorKind.InvalidHeaderDeserialization, e.kind());
        assertTrue(e.getMessage().contains("unknown dtype `Q4` for tensor `w.q`"), e.getMessage());
        assertEquals(ErrorKind.InvalidHeaderDeserialization,
                assertThrows(StloadException.class, () -> HeaderParser.read(file)).kind());
    }

    @Test
    void onRequestTheBytesComeRawWithTheDeclaredShapeAndSpelling() {
        try (Checkpoint ckpt = Checkpoint.open(file, UnknownDtypes.AS_RAW)) {
            TensorInfo info = ckpt.info("w.q");
            assertEquals(DType.UNKNOWN, info.dtype());
            assertEquals("Q4", info.dtypeName());
            assertEquals(Shape.of(4, 8), info.shape());
            assertEquals(16, info.byteSize());
            assertEquals("w.q Q4[4, 8] @[0, 16)", info.toString());
            assertArrayEquals(q4, ckpt.view("w.q").toArray(ValueLayout.JAVA_BYTE));
            Tensor copy = ckpt.copy("w.q");
            assertArrayEquals(q4, copy.data().toArray(ValueLayout.JAVA_BYTE));
            assertEquals("Q4", copy.info().dtypeName());
            byte[] head = new byte[4];
            ckpt.viewTensor("w.q").copyTo(0, java.lang.foreign.MemorySegment.ofArray(head));
            assertArrayEquals(new byte[] {7, 0x17, 0x27, 0x37}, head);
            assertEquals(4f, ckpt.viewTensor("w.scale").getFloat(3), "the known tensors beside it read as ever");
        }
    }

    @Test
    void aHubRepoOrAPathNamedAsAUserNamesIt() throws IOException {
        HubFixture hub = new HubFixture(dir.resolve("hub"));
        hub.addFile("model.safetensors", Files.readAllBytes(file));
        WaitPolicy wait = WaitPolicy.of(java.time.Duration.ZERO).withLog(line -> { });
        try (Checkpoint ckpt = CheckpointSource.resolve(HubFixture.REPO, hub.cache, wait, UnknownDtypes.AS_RAW)) {
            assertEquals(HubFixture.COMMIT, ckpt.commit());
            assertEquals("Q4", ckpt.info("w.q").dtypeName());
        }
        try (Checkpoint ckpt = CheckpointSource.resolve(file.toString(), null, wait, UnknownDtypes.AS_RAW)) {
            assertEquals(DType.UNKNOWN, ckpt.info("w.q").dtype());
        }
        assertEquals(ErrorKind.InvalidHeaderDeserialization, assertThrows(StloadException.class,
                () -> CheckpointSource.resolve(HubFixture.REPO, hub.cache, wait)).kind());
    }

    @Test
    void loadedAndStreamedWhole() {
        try (Checkpoint ckpt = Checkpoint.open(file, UnknownDtypes.AS_RAW);
             LoadedWeights w = Loader.load(ckpt, LoadOptions.DEFAULTS)) {
            Tensor q = w.tensor("w.q");
            assertEquals("Q4", q.info().dtypeName());
            assertEquals(Shape.of(4, 8), q.shape());
            assertArrayEquals(q4, q.data().toArray(ValueLayout.JAVA_BYTE));
            Map<String, String> streamed = new ConcurrentHashMap<>();
            Loader.stream(ckpt, LoadOptions.DEFAULTS, (slice, bytes) -> streamed.put(slice.name(),
                    slice.local().dtypeName() + slice.local().shape() + " " + bytes.byteSize()));
            assertEquals(Map.of("w.q", "Q4[4, 8] 16", "w.scale", "F32[4] 16"), streamed);
        }
    }

    @Test
    void replicatedToEveryRankButNeverSplit() {
        try (Checkpoint ckpt = Checkpoint.open(file, UnknownDtypes.AS_RAW)) {
            PartitionSpec replicate = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"*\", \"replicate\": true}]}");
            try (LoadedWeights r1 = Loader.load(ckpt, LoadOptions.DEFAULTS.withPartitioning(
                    new Partitioning(1, 2, replicate)))) {
                assertArrayEquals(q4, r1.tensor("w.q").data().toArray(ValueLayout.JAVA_BYTE));
            }
            PartitionSpec split = PartitionSpec.parse("test", "{\"rules\": [{\"pattern\": \"w.q\", \"split\": 0}]}");
            StloadException e = assertThrows(StloadException.class, () -> Loader.load(ckpt,
                    LoadOptions.DEFAULTS.withPartitioning(new Partitioning(0, 2, split))));
            assertEquals(ErrorKind.Unsupported, e.kind());
            assertTrue(e.getMessage().contains("`Q4`") && e.getMessage().contains("replicated, not split"),
                    e.getMessage());
        }
    }

    @Test
    void neverSlicedNorConverted() {
        try (Checkpoint ckpt = Checkpoint.open(file, UnknownDtypes.AS_RAW)) {
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class,
                    () -> ckpt.slice("w.q", "0:2")).kind());
            assertEquals(16, ckpt.slice("w.q", ":").byteSize(), "the whole tensor is a slice too");
            Tensor q = ckpt.viewTensor("w.q");
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, q::toFloatArray).kind());
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, () -> q.getFloat(0)).kind());
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, () -> q.row(0)).kind());
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> q.getByte(0)).kind());
        }
    }

    @Test
    void offsetsMustStillTileTheDataAreaButTheLengthIsTheFilesWord() throws IOException {
        Path hole = raw(dir.resolve("hole.safetensors"), """
                {"w.q":{"dtype":"Q4","shape":[4,8],"data_offsets":[0,16]},\
                "w.scale":{"dtype":"F32","shape":[4],"data_offsets":[20,36]}}""", 36);
        assertEquals(ErrorKind.InvalidOffset, assertThrows(StloadException.class,
                () -> HeaderParser.read(hole, UnknownDtypes.AS_RAW)).kind());
        Path odd = raw(dir.resolve("odd.safetensors"), """
                {"w.q":{"dtype":"Q4","shape":[4,8],"data_offsets":[0,5]}}""", 5);
        Header h = HeaderParser.read(odd, UnknownDtypes.AS_RAW);
        assertEquals(5, h.tensor("w.q").byteSize(), "a width the loader does not know is not checked");
    }
}
