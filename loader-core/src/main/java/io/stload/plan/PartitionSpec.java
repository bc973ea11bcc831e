package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.ObjectWriteContext;
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
 * {@code "experts": true} (or {@code "experts": N}: every group must have N experts). A split may say what its
 * dimension holds ({@link PartitionRule}): {@code "head_dim": D} and/or {@code "heads": H} cut it on head boundaries
 * (replicating whole heads when there are fewer than ranks, unless divisible); {@code "parts": [...]} lists the
 * tensors fused in it, each an integer (its indices) or an object {@code {"name": "q", "heads": 32, "head_dim": 96,
 * "size": N, "divisible": true}} (a part's head_dim defaults to the rule's, its divisible to the rule's); and
 * {@code "pad_to": 64} pads it to a multiple of 64 before an even split, the rows past its end zeros. An experts rule gives each rank whole experts instead of a part of every one
 * (expert parallelism): a tensor's expert is the number after the {@code experts.} component of its name,
 * and each group of experts (the name before that number, one per MoE layer) is dealt out in contiguous
 * blocks, the first {@code E % W} ranks holding one more ({@code ExpertAssignment}). A rank holds none of
 * other ranks' experts and reads none of them, short of gaps small enough to read through
 * ({@link Thresholds#maxGapBytes()}).
 *
 * <p>Built in: {@code default} ({@link #defaults()}) and {@code default-experts} ({@link #defaultsWithExperts()}),
 * which go by names only, and {@code auto} and {@code auto-experts} ({@link #fromConfig(Checkpoint, boolean)}), which
 * read the checkpoint's {@code config.json} and lay each rank out as serving engines do. {@link #toJson()} writes any
 * spec in the syntax above, so {@link #parse} reads it back.
 *
 * <p>A null argument is a {@link ErrorKind#Usage} error.
 *
 * @param name  what the rules are called in plans and errors: a built-in name or the rules file
 * @param rules the rules, first match wins
 */
public record PartitionSpec(String name, List<PartitionRule> rules) {
    /** The name {@link #load} takes for {@link #defaults()}. */
    public static final String DEFAULT_NAME = "default";
    /** The name {@link #load} takes for {@link #defaultsWithExperts()}. */
    public static final String DEFAULT_EXPERTS_NAME = "default-experts";
    /** The name {@link #load(String, Checkpoint)} takes for {@link #fromConfig(Checkpoint, boolean)}, experts split. */
    public static final String AUTO_NAME = "auto";
    /** The name {@link #load(String, Checkpoint)} takes for {@link #fromConfig(Checkpoint, boolean)}, experts whole. */
    public static final String AUTO_EXPERTS_NAME = "auto-experts";

    private static final JsonFactory JSON = JsonFactory.builder().build();
    /** Rules are a few lines; a bigger file is a mistake, and reading it whole would cost its size in heap. */
    private static final long MAX_RULES_FILE_BYTES = 1 << 20;

    /**
     * Copies the rules, so the spec cannot change after it is made.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} or {@code rules} is null
     */
    public PartitionSpec {
        if (name == null || rules == null) {
            throw StloadException.usage("partition rules need their name and their list of rules, not null");
        }
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
     * The rules a user names, for a checkpoint: {@value #AUTO_NAME} and {@value #AUTO_EXPERTS_NAME} read its
     * {@code config.json} ({@link #fromConfig(Checkpoint, boolean)}); any other name is {@link #load(String)}'s.
     *
     * @param fileOrName a built-in name or the path of a JSON rules file
     * @param checkpoint the checkpoint the rules are for
     * @return the rules
     * @throws StloadException {@link ErrorKind#Usage} for a missing, oversized, unreadable or invalid rules file or
     *         {@code config.json}
     */
    public static PartitionSpec load(String fileOrName, Checkpoint checkpoint) {
        requireCheckpoint(checkpoint);
        if (AUTO_NAME.equals(fileOrName) || AUTO_EXPERTS_NAME.equals(fileOrName)) {
            return fromConfig(checkpoint, AUTO_EXPERTS_NAME.equals(fileOrName));
        }
        return load(fileOrName);
    }

    /**
     * Whether a name the user gives is one of the rules read from a checkpoint's {@code config.json}.
     *
     * @param fileOrName a built-in name or a rules file
     * @return true for {@value #AUTO_NAME} and {@value #AUTO_EXPERTS_NAME}
     */
    public static boolean readsConfig(String fileOrName) {
        requireName(fileOrName);
        return AUTO_NAME.equals(fileOrName) || AUTO_EXPERTS_NAME.equals(fileOrName);
    }

    /**
     * The layout serving engines (vLLM's weight loaders) give each rank of a checkpoint of a known decoder family, read
     * from its {@code config.json} (beside its files; in its folder in object storage; in a hub snapshot): heads, KV
     * heads replicated where there are fewer than ranks, fused projections split part by part, the vocabulary padded
     * to a multiple of 64, routed experts split like a dense MLP or ({@code wholeExperts}) dealt whole.
     *
     * @param checkpoint   the checkpoint
     * @param wholeExperts deal routed experts whole, in contiguous blocks of ranks, instead of splitting each
     * @return the rules, named {@value #AUTO_NAME} or {@value #AUTO_EXPERTS_NAME} with what they were read from
     * @throws StloadException {@link ErrorKind#Usage} when there is no {@code config.json}, it cannot be read, it
     *         does not describe a model these rules know, or its {@code vocab_size} is not the rows of the
     *         checkpoint's embedding or LM head
     */
    public static PartitionSpec fromConfig(Checkpoint checkpoint, boolean wholeExperts) {
        requireCheckpoint(checkpoint);
        ModelConfig config = ModelConfig.of(checkpoint);
        AutoRules.requireVocabRows(config, checkpoint);
        return AutoRules.of(config, wholeExperts);
    }

    /**
     * {@link #fromConfig(Checkpoint, boolean)} from a {@code config.json} file.
     *
     * @param configJson   the file
     * @param wholeExperts deal routed experts whole instead of splitting each
     * @return the rules
     * @throws StloadException {@link ErrorKind#Usage} as {@link #fromConfig(Checkpoint, boolean)}
     */
    public static PartitionSpec fromConfig(Path configJson, boolean wholeExperts) {
        StloadException.requireNonNull(configJson, "a config.json is read from a path, not null");
        return AutoRules.of(ModelConfig.read(configJson), wholeExperts);
    }

    /**
     * {@link #fromConfig(Checkpoint, boolean)} from a {@code config.json}'s text.
     *
     * @param source       where the text came from, for messages
     * @param json         the text
     * @param wholeExperts deal routed experts whole instead of splitting each
     * @return the rules
     * @throws StloadException {@link ErrorKind#Usage} as {@link #fromConfig(Checkpoint, boolean)}
     */
    public static PartitionSpec fromConfigJson(String source, String json, boolean wholeExperts) {
        requireText(source, json);
        return AutoRules.of(ModelConfig.parse(source, json), wholeExperts);
    }

    /**
     * The rules a user names.
     *
     * @param fileOrDefault {@value #DEFAULT_NAME}, {@value #DEFAULT_EXPERTS_NAME}, or the path of a JSON rules file
     * @return the rules
     * @throws StloadException {@link ErrorKind#Usage} for a missing, oversized, unreadable or invalid rules file, or
     *         for {@value #AUTO_NAME}, which needs the checkpoint ({@link #load(String, Checkpoint)})
     */
    public static PartitionSpec load(String fileOrDefault) {
        requireName(fileOrDefault);
        if (readsConfig(fileOrDefault)) {
            throw StloadException.usage("partition rules '" + fileOrDefault + "' are read from a checkpoint's "
                    + "config.json: load them with the checkpoint");
        }
        if (DEFAULT_NAME.equals(fileOrDefault)) {
            return defaults();
        }
        if (DEFAULT_EXPERTS_NAME.equals(fileOrDefault)) {
            return defaultsWithExperts();
        }
        Path file = FileChecks.userPath(fileOrDefault, "partition rules file");
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
        } catch (ClosedByInterruptException e) {
            throw FileChecks.failure(file, "", e); // the interrupt, not the user's file
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
        StloadException.requireNonNull(tensorName, "a rule is looked up for a tensor's name, not null");
        for (PartitionRule rule : rules) {
            if (rule.matches(tensorName)) {
                return rule;
            }
        }
        return null;
    }

    /**
     * The rules in the syntax {@link #parse} reads, one rule per line: what {@code plan --json} prints, so that a user
     * can start a rules file from {@code auto}'s.
     *
     * @return {@code {"rules": [...]}}
     */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{\"rules\": [");
        for (int i = 0; i < rules.size(); i++) {
            sb.append(i > 0 ? ",\n  " : "\n  ").append(toJson(rules.get(i)));
        }
        return sb.append(rules.isEmpty() ? "]}" : "\n]}").toString();
    }

    private static String toJson(PartitionRule r) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = JSON.createGenerator(ObjectWriteContext.empty(), out)) {
            g.writeStartObject();
            boolean glob = PartitionRule.globToRegex(r.source()).pattern().equals(r.pattern().pattern());
            if (glob) {
                g.writeStringProperty("pattern", r.source());
            } else {
                g.writeStringProperty("regex", r.pattern().pattern());
            }
            if (r.replicates()) {
                g.writeBooleanProperty("replicate", true);
            } else if (r.assignsExperts()) {
                if (r.expertCount() > 0) {
                    g.writeNumberProperty("experts", r.expertCount());
                } else {
                    g.writeBooleanProperty("experts", true);
                }
            } else {
                g.writeNumberProperty("split", r.dim());
                if (r.heads() > 0) {
                    g.writeNumberProperty("heads", r.heads());
                }
                if (r.headDim() > 0) {
                    g.writeNumberProperty("head_dim", r.headDim());
                }
                if (!r.parts().isEmpty()) {
                    g.writeArrayPropertyStart("parts");
                    for (PartitionRule.Part part : r.parts()) {
                        g.writeStartObject();
                        if (!part.name().isEmpty()) {
                            g.writeStringProperty("name", part.name());
                        }
                        if (part.headDim() > 0) {
                            g.writeNumberProperty("heads", part.heads());
                            g.writeNumberProperty("head_dim", part.headDim());
                        } else {
                            g.writeNumberProperty("size", part.size());
                        }
                        if (part.divisible() != r.divisible()) {
                            g.writeBooleanProperty("divisible", part.divisible());
                        }
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                }
                if (r.padTo() > 0) {
                    g.writeNumberProperty("pad_to", r.padTo());
                }
                if (r.divisible()) {
                    g.writeBooleanProperty("divisible", true);
                }
            }
            g.writeEndObject();
        }
        return out.toString();
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
        requireText(source, json);
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
            throw usage(source, "not valid JSON: " + jsonReason(e));
        }
        return new PartitionSpec(source, rules);
    }

    /**
     * Why a user's JSON did not parse, without what only the parser's own settings mean: the location it embeds
     * ("[Source: REDACTED (`StreamReadFeature...` disabled); byte offset: #UNKNOWN]") says nothing to the user.
     */
    static String jsonReason(JacksonException e) {
        return e.getOriginalMessage().replaceAll("\\s*\\(start marker at \\[Source: [^\\]]*\\]\\)", "");
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
        int expertCount = 0;
        boolean divisible = false;
        long heads = 0;
        long headDim = 0;
        long padTo = 0;
        List<RawPart> parts = null;
        String where = "rule " + index;
        Set<String> seen = new HashSet<>();
        for (String key; (key = nextKey(p, seen, source, where)) != null; ) {
            JsonToken v = p.nextToken();
            switch (key) {
                case "pattern" -> glob = text(p, v, source, where, key);
                case "regex" -> regex = text(p, v, source, where, key);
                case "split" -> split = (int) count(p, v, source, where, key, 0, 63);
                case "replicate" -> replicate = bool(v, source, where, key);
                case "experts" -> {
                    if (v == JsonToken.VALUE_NUMBER_INT) {
                        expertCount = (int) count(p, v, source, where, key, 1, Integer.MAX_VALUE);
                        experts = true;
                    } else {
                        expect(v == JsonToken.VALUE_TRUE || v == JsonToken.VALUE_FALSE, source,
                                where + ": \"experts\" must be true, false or the experts each group has");
                        experts = v == JsonToken.VALUE_TRUE;
                    }
                }
                case "divisible" -> divisible = bool(v, source, where, key);
                case "heads" -> heads = count(p, v, source, where, key, 1, Long.MAX_VALUE);
                case "head_dim" -> headDim = count(p, v, source, where, key, 1, Long.MAX_VALUE);
                case "pad_to" -> padTo = count(p, v, source, where, key, 1, 1L << 32);
                case "parts" -> parts = parts(p, v, source, where);
                default -> throw usage(source, where + ": unknown key \"" + key + "\" (expected pattern|regex, "
                        + "split|replicate|experts, divisible, heads, head_dim, parts, pad_to)");
            }
        }
        expect((glob == null) != (regex == null), source, where + ": needs exactly one of \"pattern\" and \"regex\"");
        int kinds = (split != null ? 1 : 0) + (replicate ? 1 : 0) + (experts ? 1 : 0);
        expect(kinds == 1, source, where
                + ": needs exactly one of \"split\": DIM, \"replicate\": true and \"experts\": true");
        expect(!divisible || split != null, source, where + ": \"divisible\" applies to \"split\" only");
        expect(split != null || (heads == 0 && headDim == 0 && parts == null && padTo == 0), source,
                where + ": \"heads\", \"head_dim\", \"parts\" and \"pad_to\" apply to \"split\" only");
        expect(padTo == 0 || (heads == 0 && headDim == 0 && parts == null), source,
                where + ": \"pad_to\" pads a plain split; it cannot be combined with heads or parts");
        expect(parts == null || heads == 0, source, where + ": with \"parts\", each part gives its own \"heads\"");
        expect(parts == null || !parts.isEmpty(), source, where + ": \"parts\" must list at least one part");
        expect(heads == 0 || headDim == 0 || Math.multiplyHigh(heads, headDim) == 0, source,
                where + ": \"heads\" times \"head_dim\" overflows");
        int dim = split != null ? split : replicate ? PartitionRule.REPLICATE : PartitionRule.EXPERTS;
        PartitionRule rule;
        try {
            rule = glob != null ? PartitionRule.glob(glob, dim, divisible) : PartitionRule.regex(regex, dim, divisible);
        } catch (StloadException e) {
            throw usage(source, where + ": " + e.detail()); // a bad regex, or a rule the constructor refuses
        }
        if (parts != null) {
            List<PartitionRule.Part> resolved = new ArrayList<>();
            for (int i = 0; i < parts.size(); i++) {
                resolved.add(parts.get(i).resolve(source, where + ", part " + i, headDim, divisible));
            }
            return rule.withParts(resolved);
        }
        if (heads > 0 || headDim > 0) {
            return rule.withHeads(heads, headDim);
        }
        return padTo > 0 ? rule.withPadTo(padTo) : expertCount > 0 ? rule.withExpertCount(expertCount) : rule;
    }

    /** A part as written: any of its numbers may be left to the others or to the rule (0: not given). */
    private record RawPart(String name, long size, long heads, long headDim, Boolean divisible) {
        PartitionRule.Part resolve(String source, String where, long ruleHeadDim, boolean ruleDivisible) {
            expect(headDim > 0 || heads == 0 || size == 0 || size % heads == 0, source, where + ": size " + size
                    + " is not whole heads: " + heads + " heads do not divide it");
            long d = headDim > 0 ? headDim : heads > 0 && size > 0 ? size / heads : ruleHeadDim;
            expect(heads == 0 || d > 0, source, where + ": \"heads\" needs \"head_dim\" (on the part or the rule)"
                    + " or \"size\"");
            expect(heads == 0 || Math.multiplyHigh(heads, d) == 0, source, where + ": heads times head_dim overflows");
            long n = size > 0 ? size : heads * d;
            expect(n > 0, source, where + ": needs a size (an integer, or \"size\", or \"heads\" and \"head_dim\")");
            expect(heads == 0 || heads * d == n, source, where + ": " + heads + " heads of " + d + " make "
                    + Long.toUnsignedString(heads * d) + ", not its size " + Long.toUnsignedString(n));
            expect(d == 0 || n % d == 0, source, where + ": size " + n + " is not whole heads of " + d);
            return new PartitionRule.Part(name, n, d, divisible != null ? divisible : ruleDivisible);
        }
    }

    private static List<RawPart> parts(JsonParser p, JsonToken v, String source, String where) {
        expect(v == JsonToken.START_ARRAY, source, where + ": \"parts\" must be an array");
        List<RawPart> out = new ArrayList<>();
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            String at = where + ", part " + out.size();
            if (t == JsonToken.VALUE_NUMBER_INT) {
                out.add(new RawPart("", count(p, t, source, at, "size", 1, Long.MAX_VALUE), 0, 0, null));
                continue;
            }
            expect(t == JsonToken.START_OBJECT, source, at + ": must be a size or an object such as "
                    + "{\"name\": \"q\", \"heads\": 32}, not " + what(t));
            String name = "";
            long size = 0;
            long heads = 0;
            long headDim = 0;
            Boolean divisible = null;
            Set<String> seen = new HashSet<>();
            for (String key; (key = nextKey(p, seen, source, at)) != null; ) {
                JsonToken pv = p.nextToken();
                switch (key) {
                    case "name" -> name = text(p, pv, source, at, key);
                    case "size" -> size = count(p, pv, source, at, key, 1, Long.MAX_VALUE);
                    case "heads" -> heads = count(p, pv, source, at, key, 1, Long.MAX_VALUE);
                    case "head_dim" -> headDim = count(p, pv, source, at, key, 1, Long.MAX_VALUE);
                    case "divisible" -> divisible = bool(pv, source, at, key);
                    default -> throw usage(source, at + ": unknown key \"" + key
                            + "\" (expected name, size, heads, head_dim, divisible)");
                }
            }
            out.add(new RawPart(name, size, heads, headDim, divisible));
        }
        return out;
    }

    /** The next key of the object being read, or null at its end; a key given twice is refused. */
    private static String nextKey(JsonParser p, Set<String> seen, String source, String where) {
        String key = p.nextName();
        expect(key == null || seen.add(key), source, where + ": \"" + key + "\" is given twice");
        return key;
    }

    /** A whole number in {@code [least, most]}. */
    private static long count(JsonParser p, JsonToken v, String source, String where, String key, long least,
                              long most) {
        boolean integral = v == JsonToken.VALUE_NUMBER_INT && (p.getNumberType() == JsonParser.NumberType.INT
                || p.getNumberType() == JsonParser.NumberType.LONG);
        expect(integral && p.getLongValue() >= least && p.getLongValue() <= most, source, where + ": \"" + key
                + "\" must be " + (key.equals("split") ? "a dimension index " : "a whole number ") + least + ".." + most);
        return p.getLongValue();
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

    private static void requireName(String fileOrName) {
        StloadException.requireNonNull(fileOrName,
                "partition rules are named by a built-in name or a rules file, not null");
    }

    private static void requireCheckpoint(Checkpoint checkpoint) {
        StloadException.requireNonNull(checkpoint, "partition rules for a checkpoint need the checkpoint, not null");
    }

    private static void requireText(String source, String json) {
        if (source == null || json == null) {
            throw StloadException.usage("JSON is read from its text, named by where it came from, not null");
        }
    }
}
