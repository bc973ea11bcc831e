package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import io.stload.checkpoint.Checkpoint;
import io.stload.modulepath.ApiSurface;
import io.stload.modulepath.NullProbe;
import io.stload.plan.LoadOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The error contract of io.stload.core held for io.stload.jlama's API: a null the javadoc does not allow is a Usage
 * error, on a tiny Llama checkpoint read lazily.
 */
class JlamaApiMisuseTest {
    /** Calls whose javadoc takes null for the parameter named null; each returns or is a Usage error. */
    private static final Set<String> TAKES_NULL = Set.of(
            // "the worker's context, or null for the whole tensor"
            "StloadWeightLoader.load(String, null DistributedContext, boolean, boolean)");

    @TempDir
    Path dir;
    private final NullProbe probe = new NullProbe(TAKES_NULL);
    private final Map<Class<?>, Supplier<?>> receivers = new LinkedHashMap<>();
    private Checkpoint checkpoint;
    private StloadWeightLoader lazy;

    @BeforeEach
    void samples() throws Exception {
        Path model = TinyLlama.write(dir.resolve("tiny"), 5);
        checkpoint = Checkpoint.open(model);
        lazy = StloadWeightLoader.lazy(checkpoint);
        value(String.class, "model.layers.0.self_attn.q_proj.weight");
        value(Path.class, model);
        value(Checkpoint.class, checkpoint);
        value(LoadOptions.class, LoadOptions.DEFAULTS);
        value(DistributedContext.class, Parity.rank(0, 2));
        value(ModelType.class, ModelType.LLAMA);
        receive(StloadWeightLoader.class, lazy);
    }

    @AfterEach
    void close() {
        lazy.close();
        checkpoint.close();
    }

    @Test
    void everyPublicConstructorAndStaticMethodRefusesNullAsUsage() throws Exception {
        NullProbe.assertNoneBroken(probe.statics(ApiSurface.types(StloadWeightLoader.class)));
    }

    @Test
    void everyPublicMethodOfTheReceiversRefusesNullAsUsage() {
        SortedMap<String, String> broken = new TreeMap<>();
        receivers.forEach((type, receiver) -> broken.putAll(probe.methods(type, receiver)));
        NullProbe.assertNoneBroken(broken);
    }

    @Test
    void theSamplesAloneAreNoUsageErrorSoTheProbesProveSomething() throws Exception {
        probe.statics(ApiSurface.types(StloadWeightLoader.class));
        receivers.forEach(probe::methods);
        assertEquals(Map.of(), probe.masked(), "calls whose ordinary arguments are a Usage error already");
        assertEquals(List.of(), probe.notMade(TAKES_NULL), "TAKES_NULL names calls no member makes");
    }

    @Test
    void everyTypeWithMethodsTakingAReferenceHasAReceiver() throws Exception {
        List<String> missing = new ArrayList<>();
        for (Class<?> type : ApiSurface.types(StloadWeightLoader.class)) {
            if (!NullProbe.instanceMethods(type).isEmpty() && !receivers.containsKey(type)) {
                missing.add(NullProbe.typeName(type));
            }
        }
        assertEquals(List.of(), missing, "types with no receiver");
    }

    private <T> void value(Class<T> type, T sample) {
        probe.sample(type, () -> sample);
    }

    private <T> void receive(Class<T> type, T receiver) {
        receivers.put(type, () -> receiver);
    }
}
