package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.List;
import org.junit.jupiter.api.Test;

class PartitionSpecTest {
    @Test
    void globStarCrossesDotsAndFirstMatchWins() {
        PartitionSpec spec = PartitionSpec.parse("t", """
                {"rules": [{"pattern": "*.q_proj.weight", "split": 0},
                           {"regex": "model\\\\.layers\\\\.\\\\d+\\\\..*", "split": 1, "divisible": true},
                           {"pattern": "lm_hea?.weight", "replicate": true}]}""");
        assertEquals(0, spec.ruleFor("model.layers.0.self_attn.q_proj.weight").dim());
        PartitionRule second = spec.ruleFor("model.layers.12.mlp.down_proj.weight");
        assertEquals(1, second.dim());
        assertTrue(second.divisible());
        assertTrue(spec.ruleFor("lm_head.weight").replicates());
        assertNull(spec.ruleFor("model.norm.weight")); // unmatched: replicated
        assertNull(spec.ruleFor("xq_proj.weight")); // a glob matches the whole name, '.' is literal
    }

    @Test
    void defaultRulesCoverLlamaQwenAndDeepSeekNames() {
        PartitionSpec d = PartitionSpec.load("default");
        String[][] expected = {
                {"model.embed_tokens.weight", "0"}, {"lm_head.weight", "0"},
                {"model.layers.3.self_attn.q_proj.weight", "0"}, {"model.layers.3.self_attn.k_proj.bias", "0"},
                {"model.layers.3.self_attn.o_proj.weight", "1"}, {"model.layers.3.self_attn.o_proj.bias", "-1"},
                {"model.layers.3.mlp.gate_proj.weight", "0"}, {"model.layers.3.mlp.down_proj.weight", "1"},
                {"model.layers.3.mlp.experts.17.up_proj.weight", "0"},
                {"model.layers.3.mlp.experts.17.down_proj.weight", "1"},
                {"model.layers.3.mlp.shared_experts.gate_proj.weight", "0"},
                {"model.layers.3.self_attn.kv_b_proj.weight", "0"}, {"model.layers.3.self_attn.kv_a_proj_with_mqa.weight", "-1"},
                {"model.layers.3.mlp.gate.weight", "-1"}, {"model.layers.3.input_layernorm.weight", "-1"},
        };
        for (String[] e : expected) {
            assertEquals(Integer.parseInt(e[1]), d.ruleFor(e[0]).dim(), e[0]);
        }
    }

    @Test
    void expertsRulesParseFromGlobsAndRegexesAndSayWhatTheyAre() {
        PartitionSpec spec = PartitionSpec.parse("t", """
                {"rules": [{"pattern": "*.mlp.experts.*", "experts": true},
                           {"regex": "x\\\\.experts\\\\.\\\\d+\\\\..*", "experts": true},
                           {"pattern": "*", "split": 0, "experts": false}]}""");
        PartitionRule first = spec.ruleFor("model.layers.3.mlp.experts.17.down_proj.weight");
        assertTrue(first.assignsExperts());
        assertEquals("*.mlp.experts.* -> experts", first.toString());
        assertTrue(spec.ruleFor("x.experts.2.w1").assignsExperts());
        assertEquals("re:x\\.experts\\.\\d+\\..* -> experts", spec.ruleFor("x.experts.2.w1").toString());
        assertEquals(0, spec.ruleFor("model.norm.weight").dim());
    }

    @Test
    void defaultExpertsAssignsWholeExpertsAndIsOtherwiseTheDefault() {
        PartitionSpec d = PartitionSpec.load("default-experts");
        assertEquals("default-experts", d.name());
        for (String expert : List.of("model.layers.3.mlp.experts.17.up_proj.weight",
                "model.layers.3.mlp.experts.17.down_proj.weight", "model.layers.1.block_sparse_moe.experts.0.w1.weight",
                "model.layers.1.block_sparse_moe.experts.7.w2.weight", "model.layers.1.block_sparse_moe.experts.7.w3.weight",
                "model.layers.3.mlp.experts.17.gate_proj.weight_scale_inv")) {
            assertTrue(d.ruleFor(expert).assignsExperts(), expert);
        }
        assertEquals("*.experts.* -> experts", d.rules().get(0).toString());
        PartitionSpec plain = PartitionSpec.defaults();
        for (String other : List.of("model.layers.3.mlp.shared_experts.gate_proj.weight", "model.layers.3.mlp.gate.weight",
                "model.layers.3.self_attn.o_proj.weight", "lm_head.weight", "model.norm.weight")) {
            assertEquals(plain.ruleFor(other).toString(), d.ruleFor(other).toString(), other);
        }
        assertEquals(plain.rules().toString(), d.rules().subList(1, d.rules().size()).toString(),
                "the rest is the default, in order");
        assertTrue(plain.rules().stream().noneMatch(PartitionRule::assignsExperts), "default itself is unchanged");
    }

    @Test
    void malformedRulesAreUsageErrors() {
        for (String json : new String[] {"[]", "{\"rules\": 3}", "{}", "{\"rules\": [{\"pattern\": \"*\"}]}",
                "{\"rules\": [{\"pattern\": \"*\", \"split\": -1}]}", "{\"rules\": [{\"regex\": \"(\", \"split\": 0}]}",
                "{\"rules\": [{\"pattern\": \"*\", \"regex\": \"x\", \"split\": 0}]}",
                "{\"rules\": [{\"pattern\": \"*\", \"split\": 0, \"shard\": 1}]}", "{\"rules\": [", "not json"}) {
            StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.parse("t", json), json);
            assertEquals(ErrorKind.Usage, e.kind(), json);
        }
    }

    @Test
    void aRuleThatIsNotAnObjectIsAnErrorNeverTheEndOfTheList() {
        // {"rules":[5]} once ended the list silently: no rule at all, so every rank loaded everything.
        String[][] cases = {
                {"{\"rules\": [5]}", "rule 0: must be an object such as {\"pattern\": \"*.q_proj.weight\", \"split\": 0}, not a number"},
                {"{\"rules\": [{\"pattern\": \"a\", \"split\": 0}, \"*.weight\"]}", "rule 1: must be an object", "not a string"},
                {"{\"rules\": [{\"pattern\": \"a\", \"split\": 0}, null, {\"pattern\": \"b\", \"split\": 0}]}", "rule 1: must be an object", "not null"},
                {"{\"rules\": [[{\"pattern\": \"a\", \"split\": 0}]]}", "rule 0: must be an object", "not an array"},
                {"{\"rules\": [true]}", "rule 0: must be an object", "not a boolean"},
                {"{\"rules\": []} {\"rules\": [5]}", "trailing characters after the rules object"},
                {"{\"rules\": [], \"rules\": [{\"pattern\": \"a\", \"split\": 0}]}", "\"rules\" is given twice"},
                {"{\"rule\": [{\"pattern\": \"a\", \"split\": 0}]}", "unknown key \"rule\" (expected \"rules\")"},
                {"{\"rules\": {\"pattern\": \"a\", \"split\": 0}}", "\"rules\" must be an array, not an object"},
                {"{\"rules\": [{\"pattern\": \"a\", \"pattern\": \"b\", \"split\": 0}]}", "rule 0: \"pattern\" is given twice"},
                {"{\"rules\": [{\"pattern\": \"a\", \"split\": 99999999999999999999}]}", "rule 0: \"split\" must be a dimension index 0..63"},
                {"{\"rules\": [{\"pattern\": \"a\", \"split\": 4294967296}]}", "rule 0: \"split\" must be a dimension index 0..63"},
        };
        for (String[] c : cases) {
            StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.parse("r.json", c[0]), c[0]);
            assertEquals(ErrorKind.Usage, e.kind(), c[0]);
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            for (int i = 1; i < c.length; i++) {
                assertTrue(e.getMessage().contains("partition rules r.json: ") && e.getMessage().contains(c[i]),
                        e.getMessage());
            }
        }
        // An empty list is said, not implied: every tensor replicated.
        assertEquals(List.of(), PartitionSpec.parse("r.json", "{\"rules\": []}").rules());
    }

    @Test
    void badExpertsCombinationsAreOneLineUsageErrorsSayingWhy() {
        String[][] cases = {
                {"{\"pattern\": \"*\", \"experts\": true, \"split\": 0}", "exactly one of \"split\": DIM, \"replicate\": true and \"experts\": true"},
                {"{\"pattern\": \"*\", \"experts\": true, \"replicate\": true}", "exactly one of"},
                {"{\"pattern\": \"*\", \"experts\": false}", "exactly one of"},
                {"{\"regex\": \"x\", \"experts\": true, \"divisible\": true}", "\"divisible\" applies to \"split\" only"},
                {"{\"pattern\": \"*\", \"experts\": \"1\"}", "\"experts\" must be true, false or the experts each group has"},
                {"{\"pattern\": \"*\", \"experts\": 0}", "\"experts\" must be a whole number 1..2147483647"},
                {"{\"experts\": true}", "exactly one of \"pattern\" and \"regex\""},
                {"{\"pattern\": \"*\", \"expert\": true}", "unknown key \"expert\" (expected pattern|regex, split|replicate|experts, divisible, heads, head_dim, parts, pad_to)"},
        };
        for (String[] c : cases) {
            String json = "{\"rules\": [{\"pattern\": \"a\", \"split\": 0}, " + c[0] + "]}";
            StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.parse("t.json", json), json);
            assertEquals(ErrorKind.Usage, e.kind(), json);
            assertTrue(e.getMessage().contains("partition rules t.json: rule 1: ") && e.getMessage().contains(c[1]),
                    e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    @Test
    void rankAndWorldSizeAreChecked() {
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> new Partitioning(0, 0, PartitionSpec.REPLICATE_ALL)).kind());
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class,
                () -> new Partitioning(4, 4, PartitionSpec.REPLICATE_ALL)).kind());
    }

    @Test
    void aBadRegularExpressionIsAUsageErrorNamingItsRule() {
        StloadException direct = assertThrows(StloadException.class, () -> PartitionRule.regex("(", 0, true));
        assertEquals(ErrorKind.Usage, direct.kind());
        assertTrue(direct.detail().startsWith("bad regex: Unclosed group"), direct.detail());
        StloadException parsed = assertThrows(StloadException.class,
                () -> PartitionSpec.parse("t.json", "{\"rules\": [{\"regex\": \"(\", \"split\": 0}]}"));
        assertTrue(parsed.detail().startsWith("partition rules t.json: rule 0: bad regex: "), parsed.detail());
    }
}
