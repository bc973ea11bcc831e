package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.SegmentedTensor;
import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.plan.LoadOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the loader refuses, how it fails, what closing it does, and tensors larger than one Jlama buffer. */
class StloadWeightLoaderTest {
    @TempDir
    static Path tmp;
    static Path tiny;

    @BeforeAll
    static void writeModel() throws Exception {
        tiny = TinyLlama.write(tmp.resolve("tiny"), 5);
    }

    @Test
    void aMissingTensorIsJlamasNoSuchElementWithStloadsKindAsItsCause() {
        try (StloadWeightLoader w = StloadWeightLoader.open(tiny)) {
            NoSuchElementException e = assertThrows(NoSuchElementException.class, () -> w.load("lm_head.bias"));
            assertTrue(e.getMessage().contains("lm_head.bias"), e.getMessage());
            assertEquals(ErrorKind.TensorNotFound, assertInstanceOf(StloadException.class, e.getCause()).kind());
            assertTrue(w.isWeightPresent("lm_head.weight"));
            assertTrue(!w.isWeightPresent("lm_head.bias"));
        }
    }

    @Test
    void aDtypeJlamaCannotNameIsRefusedAtOpenNamingTheTensor() throws Exception {
        Path dir = tmp.resolve("fp8");
        java.nio.file.Files.createDirectories(dir);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(), List.of(
                new TensorData("w", DType.BF16, new long[] {2, 2}, new byte[8]),
                new TensorData("w_scale", DType.F8_E4M3, new long[] {2}, new byte[2])));
        StloadException e = assertThrows(StloadException.class, () -> StloadWeightLoader.open(dir));
        assertEquals(ErrorKind.Unsupported, e.kind());
        assertTrue(e.getMessage().contains("w_scale") && e.getMessage().contains("F8_E4M3"), e.getMessage());
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class,
                    () -> StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS)).kind());
        }
        // Jlama's own reader cannot even read the header.
        assertThrows(RuntimeException.class, () -> SafeTensorSupport.loadWeights(dir.toFile()));
    }

    @Test
    void scalarsAndRankCutsOfOtherThanTwoDimensionsAreRefusedAsJlamaRefusesThem() throws Exception {
        Path dir = tmp.resolve("scalar");
        java.nio.file.Files.createDirectories(dir);
        SafetensorsWriter.write(dir.resolve("model.safetensors"), Map.of(), List.of(
                new TensorData("scalar", DType.F32, new long[] {}, new byte[4]),
                new TensorData("cube", DType.F32, new long[] {2, 2, 2}, new byte[32])));
        try (StloadWeightLoader w = StloadWeightLoader.open(dir);
             WeightLoader jlama = SafeTensorSupport.loadWeights(dir.toFile())) {
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class, () -> w.load("scalar")).kind());
            assertThrows(RuntimeException.class, () -> jlama.load("scalar"));
            Parity.assertSameTensor("cube", jlama.load("cube"), w.load("cube"));
            assertEquals(ErrorKind.Unsupported, assertThrows(StloadException.class,
                    () -> w.load("cube", Parity.rank(0, 2), true, false)).kind());
            assertThrows(RuntimeException.class, () -> jlama.load("cube", Parity.rank(0, 2), true, false));
        }
    }

    @Test
    void closingFreesWhatTheLoaderHeldAndRefusesFurtherLoads() {
        AbstractTensor eager;
        AbstractTensor column;
        try (Checkpoint ckpt = Checkpoint.open(tiny)) {
            StloadWeightLoader w = StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS);
            eager = w.load("lm_head.weight");
            column = w.load("model.layers.0.mlp.down_proj.weight", Parity.rank(1, 2), false, true);
            assertTrue(eager.get(0, 0) != 0 || eager.get(0, 1) != 0);
            w.close();
            w.close();
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> w.load("lm_head.weight")).kind());
        }
        assertThrows(IllegalStateException.class, () -> eager.get(0, 0));
        assertThrows(IllegalStateException.class, () -> column.get(0, 64));

        StloadWeightLoader lazy = StloadWeightLoader.open(tiny);
        AbstractTensor view = lazy.load("lm_head.weight");
        lazy.close();
        assertThrows(IllegalStateException.class, () -> view.get(0, 0), "the checkpoint it opened is closed");
    }

    /**
     * A tensor larger than one Jlama buffer comes as Jlama's own loader gives it, blocks of whole rows in a
     * {@link SegmentedTensor}, whose rows are the tensor's. (The limit is made small here; Jlama's is 2 GiB.)
     */
    @Test
    void aTensorLargerThanOneBufferIsSegmentedByRows() throws Exception {
        try (Checkpoint ckpt = Checkpoint.open(tiny);
             StloadWeightLoader small = StloadWeightLoader.lazy(ckpt, false, 3000);
             WeightLoader jlama = SafeTensorSupport.loadWeights(tiny.toFile())) {
            AbstractTensor whole = jlama.load("model.embed_tokens.weight");
            AbstractTensor segmented = small.load("model.embed_tokens.weight");
            assertInstanceOf(SegmentedTensor.class, segmented);
            assertEquals(whole.shape(), segmented.shape());
            for (int row = 0; row < TinyLlama.VOCAB; row++) {
                assertArrayEquals(Parity.bytes(whole.slice(row).getMemorySegment()),
                        Parity.bytes(segmented.slice(row).getMemorySegment()), "row " + row);
            }
            Parity.assertSameTensor("norm", jlama.load("model.norm.weight"), small.load("model.norm.weight"));
        }
    }
}
