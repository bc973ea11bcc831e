package io.stload.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.plan.DecisionRule;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.Partitioning;
import io.stload.plan.Planner;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadAheadTest {
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    /** Twelve 64 KiB layers of 128 rows, named as a model's are. */
    private Path checkpoint() throws IOException {
        List<TensorData> tensors = new ArrayList<>();
        for (int layer = 0; layer < 12; layer++) {
            tensors.add(new TensorData("model.layers." + layer + ".mlp.weight", DType.F32, new long[] {128, 128},
                    new byte[128 * 128 * 4]));
        }
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of(), tensors);
        return file;
    }

    @Test
    void namesCompareWithTheirNumbersAsNumbers() {
        List<String> names = new ArrayList<>(List.of("model.layers.10.w", "model.layers.2.w", "model.layers.02.x",
                "model.layers.1.w", "model.embed.w", "model.layers.2", "lm_head.w"));
        names.sort(ReadAhead::compareNatural);
        assertEquals(List.of("lm_head.w", "model.embed.w", "model.layers.1.w", "model.layers.2", "model.layers.2.w",
                "model.layers.02.x", "model.layers.10.w"), names);
    }

    @Test
    void aPassReadsEveryByteTheOptionsSelect() throws Exception {
        try (Checkpoint c = Checkpoint.open(checkpoint());
             ReadAhead pass = ReadAhead.start(c, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.PREFETCH))) {
            assertTrue(pass.await(DEADLINE));
            assertEquals(c.totalBytes(), pass.bytes());
            assertEquals(pass.bytes(), pass.bytesRead());
            assertTrue(pass.failure().isEmpty(), () -> pass.failure().orElseThrow().getMessage());
        }
    }

    @Test
    void aRanksPassReadsOnlyItsRows() throws Exception {
        PartitionSpec rows = new PartitionSpec("rows", List.of(PartitionRule.regex(".*\\.weight", 0, false)));
        LoadOptions rank1 = LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT)
                .withPartitioning(new Partitioning(1, 4, rows));
        try (Checkpoint c = Checkpoint.open(checkpoint()); ReadAhead pass = ReadAhead.start(c, rank1)) {
            assertTrue(pass.await(DEADLINE));
            assertEquals(pass.plan().readBytes(), pass.bytes());
            assertTrue(pass.bytes() < c.totalBytes(), pass.bytes() + " of " + c.totalBytes());
            assertEquals(pass.bytes(), pass.bytesRead());
        }
    }

    /** A freshly written file is in the page cache (or small): AUTO gives it no pass of its own, and neither does this. */
    @Test
    void nothingIsReadWhereAutoWouldMapTheFile() throws Exception {
        try (Checkpoint c = Checkpoint.open(checkpoint()); ReadAhead pass = ReadAhead.start(c, LoadOptions.DEFAULTS)) {
            assertTrue(pass.await(DEADLINE));
            assertEquals(LoadStrategy.MMAP, pass.plan().files().getFirst().strategy());
            assertEquals(0, pass.bytes());
            assertEquals(0, pass.bytesRead());
        }
    }

    @Test
    void nothingIsReadUnderABoundedResidentSet() throws Exception {
        try (Checkpoint c = Checkpoint.open(checkpoint());
             ReadAhead pass = ReadAhead.start(c, LoadOptions.DEFAULTS.withResidentLimit(256 << 20))) {
            assertTrue(pass.await(DEADLINE));
            assertEquals(DecisionRule.RESIDENT_LIMIT, pass.plan().files().getFirst().rule());
            assertEquals(0, pass.bytesRead());
        }
    }

    /** Options a load would refuse are refused here too, from the plan, and nothing is read. */
    @Test
    void optionsALoadWouldRefuseAreThePassesFailure() throws Exception {
        try (Checkpoint c = Checkpoint.open(checkpoint());
             ReadAhead pass = ReadAhead.start(c, LoadOptions.DEFAULTS.withResidentLimit(1 << 20))) {
            assertTrue(pass.await(DEADLINE));
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, pass::plan).kind());
            assertEquals(ErrorKind.Usage, pass.failure().orElseThrow().kind());
            assertEquals(0, pass.bytesRead());
        }
    }

    /** The pass never touches the mapping's memory: a file cut under it is an error it keeps, not a fault. */
    @Test
    void aFileTruncatedUnderThePassStopsItWithAnIoError() throws Exception {
        Path file = checkpoint();
        try (Checkpoint c = Checkpoint.open(file)) {
            LoadPlan plan = new Planner().plan(c, LoadOptions.DEFAULTS.withStrategy(LoadStrategy.PREFETCH));
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                raf.setLength(raf.length() / 2);
            }
            try (ReadAhead pass = ReadAhead.of(plan)) {
                assertTrue(pass.await(DEADLINE));
                assertEquals(ErrorKind.Io, pass.failure().orElseThrow().kind());
                assertTrue(pass.bytesRead() < pass.bytes());
            }
        }
    }
}
