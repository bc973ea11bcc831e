package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import io.stload.benchdata.CheckpointGenerator;
import io.stload.benchdata.CheckpointSpec;
import io.stload.benchdata.ShapeKind;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.CheckpointSource;
import io.stload.checkpoint.HubFixture;
import io.stload.checkpoint.WaitPolicy;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.s3.S3Location;
import io.stload.s3.S3ProxyServer;
import io.stload.s3.S3Settings;
import io.stload.s3.S3Storage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same {@link Checkpoint} from elsewhere gives Jlama the same tensors: a folder in object storage (a real S3
 * server, S3Proxy on loopback) read lazily, loaded whole and loaded as a worker's share, and a hub-cache snapshot.
 */
class JlamaSourcesTest {
    private static final List<Integer> WORLDS = List.of(2);

    @TempDir
    static Path tmp;
    static Path local;
    static S3ProxyServer server;

    @BeforeAll
    static void start() throws Exception {
        local = CheckpointGenerator.generate(CheckpointSpec.of(ShapeKind.LLAMA, 1L << 20).withShardBytes(256L << 10),
                tmp.resolve("llama")).dir();
        server = new S3ProxyServer(tmp.resolve("s3"));
        Path folder = Files.createDirectories(server.bucket("models").resolve("llama"));
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.toList()) {
                Files.copy(f, folder.resolve(f.getFileName()));
            }
        }
    }

    @AfterAll
    static void stop() throws Exception {
        server.close();
    }

    @Test
    void aFolderInObjectStorageLazilyLoadedAndAsAWorkersShare() throws Exception {
        S3Settings settings = S3Settings.DEFAULTS.withEndpoint(server.endpoint()).withParts(64 << 10, 4);
        try (S3Storage s3 = S3Storage.connect(settings);
             WeightLoader jlama = SafeTensorSupport.loadWeights(local.toFile())) {
            try (Checkpoint ckpt = s3.open(S3Location.parse("s3://models/llama"));
                 StloadWeightLoader lazy = StloadWeightLoader.lazy(ckpt)) {
                assertNotNull(ckpt.remote());
                // Each lazy read is GETs of its own: the table, one layer and what is outside the layers, whole and cut.
                Parity.assertSameWeights(jlama, lazy, n -> !n.startsWith("model.layers.") || n.startsWith("model.layers.1."),
                        WORLDS, WORLDS, WORLDS);
            }
            try (Checkpoint ckpt = s3.open(S3Location.parse("s3://models/llama"));
                 StloadWeightLoader loaded = StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS)) {
                assertEquals(LoadStrategy.S3, loaded.report().orElseThrow().files().getFirst().strategy());
                Parity.assertSameWeights(jlama, loaded, WORLDS, WORLDS, WORLDS);
                assertEquals(0, loaded.unplannedBytes());
            }
            try (Checkpoint ckpt = s3.open(S3Location.parse("s3://models/llama"));
                 StloadWeightLoader worker = StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS, Parity.rank(1, 2),
                         ModelType.LLAMA)) {
                assertSameCuts(jlama, worker, 1, 1); // the worker's layers are those of its config: 0 and 1
                assertEquals(0, worker.unplannedBytes(), "the worker's cuts came from its load");
            }
        }
    }

    @Test
    void aHubSnapshot() throws Exception {
        HubFixture hub = new HubFixture(tmp.resolve("hub"));
        try (Stream<Path> files = Files.list(local)) {
            for (Path f : files.toList()) {
                if (f.getFileName().toString().endsWith(".json")) {
                    hub.addIndex(indexMap(f));
                } else {
                    hub.addFile(f.getFileName().toString(), Files.readAllBytes(f));
                }
            }
        }
        List<String> log = new ArrayList<>();
        try (Checkpoint ckpt = CheckpointSource.resolve(HubFixture.REPO, hub.cache,
                WaitPolicy.of(Duration.ZERO).withLog(log::add));
             StloadWeightLoader ours = StloadWeightLoader.lazy(ckpt);
             WeightLoader jlama = SafeTensorSupport.loadWeights(hub.snapshot.toFile())) {
            assertEquals(HubFixture.COMMIT, ckpt.commit());
            assertTrue(log.getFirst().startsWith(HubFixture.REPO + "@main is commit " + HubFixture.COMMIT), log.toString());
            Parity.assertSameWeights(jlama, ours, WORLDS, WORLDS, WORLDS);
        }
    }

    /** The given ranks of two's cuts of one layer, rows of the projections in and columns of those out, as Llama asks. */
    private static void assertSameCuts(WeightLoader jlama, WeightLoader ours, int layer, int... ranks) {
        for (int r : ranks) {
            DistributedContext rank = Parity.rank(r, 2);
            for (String in : List.of("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
                    "mlp.up_proj")) {
                String name = "model.layers." + layer + "." + in + ".weight";
                Parity.assertSameTensor(name, jlama.load(name, rank, true, false), ours.load(name, rank, true, false));
            }
            for (String out : List.of("self_attn.o_proj", "mlp.down_proj")) {
                String name = "model.layers." + layer + "." + out + ".weight";
                Parity.assertColumns(name, jlama.load(name), jlama.load(name, rank, false, true),
                        ours.load(name, rank, false, true), rank);
            }
        }
    }

    /** The index's tensor-to-shard map, for the fixture to write as the hub stores an index. */
    private static java.util.Map<String, String> indexMap(Path index) throws Exception {
        try (Checkpoint ckpt = Checkpoint.open(index.getParent())) {
            java.util.Map<String, String> map = new java.util.LinkedHashMap<>();
            ckpt.tensors().forEach((name, t) -> map.put(name, ckpt.nameOf(t.file())));
            return map;
        }
    }
}
