package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.SafeTensorSupport;
import com.github.tjake.jlama.safetensors.WeightLoader;
import com.github.tjake.jlama.safetensors.prompt.PromptContext;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.model.llama.LlamaModel;
import io.stload.checkpoint.Checkpoint;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jlama's {@code LlamaModel} built on Jlama's own loader and on stload's, lazy and eager, generates the same greedy
 * tokens from the same logits for a tiny Llama the test writes. (Jlama 0.8.4 on the Vector API has no kernel for
 * F32 activations against I8 weights, so its own I8 models do not generate; {@link JlamaParityTest} checks their
 * tensors.)
 */
class JlamaModelTest {
    private static final int TOKENS = 8;

    @TempDir
    static Path tmp;
    static Path bf16;

    @BeforeAll
    static void writeModels() throws Exception {
        bf16 = TinyLlama.write(tmp.resolve("tiny"), 7);
    }

    /** What a model generated: each step's logits and the greedy token taken from them. */
    private record Run(List<Integer> tokens, List<float[]> logits) {
    }

    @Test
    void greedyTokensAreJlamasOnEveryLoaderForBf16() throws Exception {
        Run jlama = generate(bf16, SafeTensorSupport::loadWeights);
        assertTrue(jlama.tokens().stream().distinct().count() > 1, "the tiny model says something: " + jlama.tokens());
        assertSame(jlama, generate(bf16, dir -> StloadWeightLoader.open(dir.toPath())));
        for (LoadStrategy s : List.of(LoadStrategy.MMAP, LoadStrategy.DIRECT, LoadStrategy.PREFETCH)) {
            try (Checkpoint ckpt = Checkpoint.open(bf16)) {
                assertSame(jlama, generate(bf16,
                        dir -> StloadWeightLoader.load(ckpt, LoadOptions.DEFAULTS.withStrategy(s))));
            }
        }
    }

    /**
     * The same tokens, from the same logits. Jlama's parallel sums are not bit-reproducible from one run to the next
     * (two runs on its own loader differ in the last bits of a logit), so logits are compared to a millionth.
     */
    private static void assertSame(Run expected, Run actual) {
        assertEquals(expected.tokens(), actual.tokens());
        for (int i = 0; i < expected.logits().size(); i++) {
            assertArrayEquals(expected.logits().get(i), actual.logits().get(i), 1e-6f, "logits of step " + i);
        }
    }

    /** Builds the model as Jlama's {@code ModelSupport.loadModel} does, on the loader given, and decodes greedily. */
    private static Run generate(Path dir, Function<File, WeightLoader> loader) throws Exception {
        // Jlama pages its KV cache into the working folder, a new one in the system's temporary folder if none is given.
        File work = Files.createTempDirectory(tmp, "jlama-work").toFile();
        AbstractModel model = ModelSupport.loadModel(AbstractModel.InferenceType.FULL_GENERATION, dir.toFile(), work,
                DType.F32, DType.F32, Optional.empty(), Optional.empty(), Optional.empty(), loader);
        try (WeightLoader weights = model.getWeights()) {
            assertInstanceOf(LlamaModel.class, model);
            List<Integer> tokens = new ArrayList<>();
            List<float[]> logits = new ArrayList<>();
            try (KvBufferCache cache = new KvBufferCache(model);
                 KvBufferCache.KvBuffer kv = cache.getEphemeralKvBuffer();
                 AbstractTensor scratch = model.makeDenseTensor(TinyLlama.VOCAB)) {
                int[] prompt = model.encodePrompt(PromptContext.of(TinyLlama.PROMPT));
                AbstractTensor out = model.batchForward(prompt, 0, kv);
                AbstractTensor last = out.slice(out.shape().first() - 1);
                int pos = prompt.length;
                for (int i = 0; i < TOKENS; i++) {
                    logits.add(model.getLogits(last));
                    int next = model.sample(last, 0f, 0f, scratch);
                    tokens.add(next);
                    out.close();
                    out = model.forward(next, pos++, kv, Optional.empty());
                    last = out;
                }
                out.close();
            }
            return new Run(tokens, logits);
        } finally {
            model.close();
        }
    }
}
