package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.PatternSyntaxException;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.json.JsonFactory;

/**
 * Which tensors are split across tensor-parallel ranks, and along which dimension, and which MoE experts each
 * rank holds whole: an ordered list of rules, first match wins; a tensor no rule matches is replicated.
 * Written as JSON:
 *
 * <pre>{@code
 * {"rules": [
 *   {"pattern": "*.mlp.experts.*", "experts": true},
 *   {"pattern": "*.q_proj.weight", "split": 0},
 *   {"pattern": "*.o_proj.weight", "split": 1, "divisible": true},
 *   {"regex": "model\\.layers\\.\\d+\\.mlp\\.gate\\.weight", "replicate": true}
 * ]}
 * }</pre>
 *
 * {@code pattern} is a glob ({@code *} matches any characters, dots included; {@code ?} one character),
 * {@code regex} a Java regular expression; either must match the whole name. Each rule has exactly one of
 * {@code "split": DIM} (optionally {@code "divisible": true}), {@code "replicate": true} and
 * {@code "experts": true}. An experts rule gives each rank whole experts instead of a part of every one
 * (expert parallelism): a tensor's expert is the number after the {@code experts.} component of its name,
 * and each group of experts (the name before that number, one per MoE layer) is dealt out in contiguous
 * blocks, the first {@code E % W} ranks holding one more ({@code ExpertAssignment}). A rank holds none of
 * other ranks' experts and reads none of them, short of gaps small enough to read through
 * ({@link Thresholds#maxGapBytes()}).
 *
 * <p>Built in: {@code default} ({@link #defaults()}) and {@code default-experts} ({@link #defaultsWithExperts()}).
 *
 * @param name  what the rules are called in plans and errors: a built-in name or the rules file
 * @param rules the rules, first match wins
 */
public record PartitionSpec(String name, List<PartitionRule> rules) {
    /** The name {@link #load} takes for {@link #defaults()}. */
    public static final String DEFAULT_NAME = "default";
    /** The name {@link #load} takes for {@link #defaultsWithExperts()}. */
    public static final String DEFAULT_EXPERTS_NAME = "default-experts";

    private static final JsonFactory JSON = JsonFactory.builder().build();
    /** Rules are a few lines; a bigger file is a mistake, and reading it whole would cost its size in heap. */
    private static final long MAX_RULES_FILE_BYTES = 1 << 20;

    /** Copies the rules, so the spec cannot change after it is made. */
    public PartitionSpec {
        rules = List.copyOf(rules);
    }

    /** Every tensor replicated: what a single rank loads. */
    public static final PartitionSpec REPLICATE_ALL = new PartitionSpec("replicate all", List.of());

    /**
     * Megatron-style rules for Llama-, Qwen- and DeepSeek-style names. Column-parallel layers (q/k/v, gate/up,
     * DeepSeek's q_b/kv_b, embeddings and the LM head) split their outputs, dim 0, biases with them;
     * row-parallel layers (o, down) split their inputs, dim 1, and keep their biases whole, because each rank
     * adds a partial sum and the bias is added once after the all-reduce. MoE experts are split per expert
     * weight by the same names. Norms, routers and low-rank down-projections (q_a, kv_a) are small: replicated.
     *
     * @return the rules, named {@value #DEFAULT_NAME}
     */
    public static PartitionSpec defaults() {
        List<PartitionRule> r = new ArrayList<>();
        for (String columnParallel : List.of("q_proj", "k_proj", "v_proj", "q_b_proj", "kv_b_proj", "gate_proj", "up_proj",
                "w1", "w3")) {
            r.add(PartitionRule.glob("*." + columnParallel + ".weight", 0, false));
            r.add(PartitionRule.glob("*." + columnParallel + ".bias", 0, false));
        }
        for (String rowParallel : List.of("o_proj", "down_proj", "w2")) {
            r.add(PartitionRule.glob("*." + rowParallel + ".weight", 1, false));
        }
        r.add(PartitionRule.glob("*embed_tokens.weight", 0, false));
        r.add(PartitionRule.glob("lm_head.weight", 0, false));
        r.add(PartitionRule.glob("*", PartitionRule.REPLICATE, false));
        return new PartitionSpec(DEFAULT_NAME, r);
    }

    /**
     * {@link #defaults()}, except that MoE experts ({@code *.experts.*}: Qwen/DeepSeek gate/up/down and
     * Mixtral w1/w2/w3 alike) are held whole, each by one rank, instead of split per expert weight. Shared
     * experts and routers stay as in {@code default}.
     *
     * @return the rules, named {@value #DEFAULT_EXPERTS_NAME}
     */
    public static PartitionSpec defaultsWithExperts() {
        List<PartitionRule> r = new ArrayList<>();
        r.add(PartitionRule.glob("*.experts.*", PartitionRule.EXPERTS, false));
        r.addAll(defaults().rules());
        return new PartitionSpec(DEFAULT_EXPERTS_NAME, r);
    }

    /**
     * The rules a user names.
     *
     * @param fileOrDefault {@value #DEFAULT_NAME}, {@value #DEFAULT_EXPERTS_NAME}, or the path of a JSON rules file
     * @return the rules
     * @throws StloadException {@link ErrorKind#Usage} for a missing, oversized, unreadable or invalid rules file
     */
    public static PartitionSpec load(String fileOrDefault) {
        if (DEFAULT_NAME.equals(fileOrDefault)) {
            return defaults();
        }
        if (DEFAULT_EXPERTS_NAME.equals(fileOrDefault)) {
            return defaultsWithExperts();
        }
        Path file = Path.of(fileOrDefault);
        if (!Files.exists(file)) {
            throw new StloadException(ErrorKind.Usage, file, "no such partition rules file");
        }
        long size = FileChecks.requireRegularFile(file).size(); // a FIFO would block the read below
        if (size > MAX_RULES_FILE_BYTES) {
            throw new StloadException(ErrorKind.Usage, file, "a partition rules file is at most "
                    + MAX_RULES_FILE_BYTES + " bytes; this one is " + size);
        }
        try {
            return parse(file.toString(), Files.readString(file));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Usage, file, "cannot read partition rules: " + FileChecks.reason(e));
        }
    }

    /**
     * The rule for a tensor.
     *
     * @param tensorName the tensor's full name
     * @return the first rule matching the name; null when none does (the tensor is replicated)
     */
    public PartitionRule ruleFor(String tensorName) {
        for (PartitionRule rule : rules) {
            if (rule.matches(tensorName)) {
                return rule;
            }
        }
        return null;
    }

    /**
     * Rules written as JSON (the layout in the class comment).
     *
     * @param source where the JSON came from, for the spec's name and errors
     * @param json   the rules
     * @return the rules, named {@code source}
     * @throws StloadException {@link ErrorKind#Usage} naming {@code source} for JSON that is not valid rules
     */
    public static PartitionSpec parse(String source, String json) {
        List<PartitionRule> rules = null;
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), json)) {
            expect(p.nextToken() == JsonToken.START_OBJECT, source, "expected a JSON object {\"rules\": [...]}");
            String key;
            while ((key = p.nextName()) != null) {
                JsonToken v = p.nextToken();
                expect("rules".equals(key), source, "unknown key \"" + key + "\" (expected \"rules\")");
                expect(rules == null, source, "\"rules\" is given twice");
                expect(v == JsonToken.START_ARRAY, source, "\"rules\" must be an array, not " + what(v));
                rules = new ArrayList<>();
                JsonToken t;
                // Every element is a rule: anything else is an error, never the end of the list.
                while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                    expect(t == JsonToken.START_OBJECT, source, "rule " + rules.size() + ": must be an object "
                            + "such as {\"pattern\": \"*.q_proj.weight\", \"split\": 0}, not " + what(t));
                    rules.add(rule(p, source, rules.size()));
                }
            }
            expect(rules != null, source, "no \"rules\" array");
            expect(p.nextToken() == null, source, "trailing characters after the rules object");
        } catch (JacksonException e) {
            throw usage(source, "not valid JSON: " + e.getOriginalMessage());
        }
        return new PartitionSpec(source, rules);
    }

    /** A JSON value's kind, for messages; the value itself is not echoed. */
    private static String what(JsonToken t) {
        if (t == null) {
            return "the end of the file";
        }
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> t.name();
        };
    }

    private static PartitionRule rule(JsonParser p, String source, int index) {
        String glob = null;
        String regex = null;
        Integer split = null;
        boolean replicate = false;
        boolean experts = false;
        boolean divisible = false;
        String where = "rule " + index;
        Set<String> seen = new HashSet<>();
        String key;
        while ((key = p.nextName()) != null) {
            JsonToken v = p.nextToken();
            expect(seen.add(key), source, where + ": \"" + key + "\" is given twice");
            switch (key) {
                case "pattern" -> glob = text(p, v, source, where, key);
                case "regex" -> regex = text(p, v, source, where, key);
                case "split" -> {
                    expect(v == JsonToken.VALUE_NUMBER_INT && p.getNumberType() == JsonParser.NumberType.INT
                            && p.getIntValue() >= 0 && p.getIntValue() < 64, source,
                            where + ": \"split\" must be a dimension index 0..63");
                    split = p.getIntValue();
                }
                case "replicate" -> replicate = bool(v, source, where, key);
                case "experts" -> experts = bool(v, source, where, key);
                case "divisible" -> divisible = bool(v, source, where, key);
                default -> throw usage(source, where + ": unknown key \"" + key
                        + "\" (expected pattern|regex, split|replicate|experts, divisible)");
            }
        }
        expect((glob == null) != (regex == null), source, where + ": needs exactly one of \"pattern\" and \"regex\"");
        int kinds = (split != null ? 1 : 0) + (replicate ? 1 : 0) + (experts ? 1 : 0);
        expect(kinds == 1, source, where
                + ": needs exactly one of \"split\": DIM, \"replicate\": true and \"experts\": true");
        expect(!divisible || split != null, source, where + ": \"divisible\" applies to \"split\" only");
        int dim = split != null ? split : replicate ? PartitionRule.REPLICATE : PartitionRule.EXPERTS;
        try {
            return glob != null ? PartitionRule.glob(glob, dim, divisible) : PartitionRule.regex(regex, dim, divisible);
        } catch (PatternSyntaxException e) {
            throw usage(source, where + ": bad regex: " + e.getDescription());
        }
    }

    private static String text(JsonParser p, JsonToken v, String source, String where, String key) {
        expect(v == JsonToken.VALUE_STRING, source, where + ": \"" + key + "\" must be a string");
        return p.getString();
    }

    private static boolean bool(JsonToken v, String source, String where, String key) {
        expect(v == JsonToken.VALUE_TRUE || v == JsonToken.VALUE_FALSE, source, where + ": \"" + key + "\" must be true or false");
        return v == JsonToken.VALUE_TRUE;
    }

    private static void expect(boolean ok, String source, String message) {
        if (!ok) {
            throw usage(source, message);
        }
    }

    private static StloadException usage(String source, String message) {
        return new StloadException(ErrorKind.Usage, null, "partition rules " + source + ": " + message);
    }
}
