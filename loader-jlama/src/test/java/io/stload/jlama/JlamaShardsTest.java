package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadStrategy;
import io.stload.plan.PartitionRule;
import io.stload.plan.PartitionSpec;
import io.stload.plan.TensorFilter;
import org.junit.jupiter.api.Test;

/** A Jlama context's rank, world size, rules and layers, as stload reads them. */
class JlamaShardsTest {
    @Test
    void rankAndWorldSizeAreReadBackFromJlamasArithmetic() {
        for (int w = 1; w <= 64; w++) {
            for (int r = 0; r < w; r++) {
                DistributedContext dctx = Parity.rank(r, w);
                assertEquals(w, JlamaShards.worldSize(dctx), "world size " + w);
                assertEquals(r, JlamaShards.rank(dctx), "rank " + r + " of " + w);
            }
        }
        DistributedContext large = Parity.rank(4095, 4096);
        assertEquals(4096, JlamaShards.worldSize(large));
        assertEquals(4095, JlamaShards.rank(large));
    }

    @Test
    void llamaFamilyRulesCutProjectionsInByRowsAndOutByColumnsWithTheirScales() {
        for (ModelType type : new ModelType[] {ModelType.LLAMA, ModelType.MISTRAL, ModelType.QWEN2, ModelType.GRANITE,
                ModelType.GEMMA, ModelType.GEMMA2}) {
            PartitionSpec rules = JlamaShards.rules(type);
            for (String rows : new String[] {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                    "mlp.gate_proj", "mlp.up_proj"}) {
                assertDim(0, rules, "model.layers.3." + rows + ".weight");
                assertDim(0, rules, "model.layers.3." + rows + ".weight.qb");
            }
            for (String columns : new String[] {"self_attn.o_proj", "mlp.down_proj"}) {
                assertDim(1, rules, "model.layers.3." + columns + ".weight");
                assertDim(1, rules, "model.layers.3." + columns + ".weight.qb");
            }
            for (String whole : new String[] {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                    "model.layers.3.input_layernorm.weight", "model.layers.3.self_attn.q_proj.bias"}) {
                assertDim(PartitionRule.REPLICATE, rules, whole);
            }
        }
    }

    @Test
    void mixtralCutsAttentionInputsAndExpertInputsByRowsOnly() {
        PartitionSpec rules = JlamaShards.rules(ModelType.MIXTRAL);
        assertDim(0, rules, "model.layers.0.self_attn.q_proj.weight");
        assertDim(0, rules, "model.layers.0.block_sparse_moe.experts.7.w1.weight");
        assertDim(0, rules, "model.layers.0.block_sparse_moe.experts.7.w3.weight.qb");
        assertDim(PartitionRule.REPLICATE, rules, "model.layers.0.self_attn.o_proj.weight");
        assertDim(PartitionRule.REPLICATE, rules, "model.layers.0.block_sparse_moe.experts.7.w2.weight");
        assertDim(PartitionRule.REPLICATE, rules, "model.layers.0.block_sparse_moe.gate.weight");
        assertNull(JlamaShards.rules(ModelType.GPT2).ruleFor("h.0.attn.c_attn.weight"), "GPT-2 cuts nothing");
    }

    @Test
    void aLayerShardTakesItsLayersAndEverythingOutsideTheLayers() {
        DistributedContext second = DistributedContext.builder(Parity.CONFIG).setLayerShard(1).setNumLayerShards(2)
                .build();
        TensorFilter layers = JlamaShards.layers(second);
        assertTrue(layers.matches("model.layers.1.mlp.up_proj.weight"));
        assertFalse(layers.matches("model.layers.0.mlp.up_proj.weight"));
        assertFalse(layers.matches("model.layers.10.mlp.up_proj.weight"), "layer 10 is not layer 1");
        assertTrue(layers.matches("model.embed_tokens.weight"));
        assertTrue(layers.matches("lm_head.weight"));

        LoadOptions options = JlamaShards.forWorker(LoadOptions.DEFAULTS.withStrategy(LoadStrategy.DIRECT).withThreads(2),
                Parity.rank(1, 4), ModelType.LLAMA);
        assertEquals(LoadStrategy.DIRECT, options.strategy());
        assertEquals(2, options.threads());
        assertEquals(1, options.partitioning().rank());
        assertEquals(4, options.partitioning().worldSize());
        assertEquals("jlama llama", options.partitioning().spec().name());
        assertTrue(options.tensors().matches("model.layers.1.mlp.up_proj.weight"), "one layer shard: every layer");
    }

    private static void assertDim(int dim, PartitionSpec rules, String name) {
        PartitionRule rule = rules.ruleFor(name);
        assertEquals(dim, rule == null ? PartitionRule.REPLICATE : rule.dim(), name + " under " + rules.name());
    }
}
