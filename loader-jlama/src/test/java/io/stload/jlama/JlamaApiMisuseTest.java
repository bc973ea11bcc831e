package io.stload.jlama;


import com.github.tjake.jlama.model.DistributedContext;
import com.github.tjake.jlama.model.ModelSupport.ModelType;
import io.stload.checkpoint.Checkpoint;
import io.stload.modulepath.ApiSurface;
import io.stload.modulepath.ModuleApiMisuseTest;
import io.stload.plan.LoadOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The error contract of io.stload.core held for io.stload.jlama's API: a null the javadoc does not allow is a Usage
 * error, on a tiny Llama checkpoint read lazily.
 */
class JlamaApiMisuseTest extends ModuleApiMisuseTest {
    /** Calls whose javadoc takes null for the parameter named null; each returns or is a Usage error. */
    private static final Set<String> TAKES_NULL = Set.of(
            // "the worker's context, or null for the whole tensor"
            "StloadWeightLoader.load(String, null DistributedContext, boolean, boolean)");

    @TempDir
    Path dir;
    private Checkpoint checkpoint;
    private StloadWeightLoader lazy;

    JlamaApiMisuseTest() {
        super(TAKES_NULL, Map.of());
    }

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

    @Override
    protected List<Class<?>> apiTypes() throws IOException {
        return ApiSurface.types(StloadWeightLoader.class);
    }
}
