package io.stload.modulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The error contract of io.stload.core held for the API of a module beside it (CUDA, S3, Jlama): a null the javadoc
 * does not allow is a Usage error. A subclass names its API types, and gives samples and receivers in a
 * {@code @BeforeEach} of its own; the four checks are the ones {@link ApiMisuseTest} makes of the core.
 */
public abstract class ModuleApiMisuseTest {
    protected final NullProbe probe;
    private final Set<String> takesNull;
    private final Map<String, String> notProbed;
    private final Map<Class<?>, Supplier<?>> receivers = new LinkedHashMap<>();

    /**
     * @param takesNull calls whose javadoc takes null for the parameter named null
     * @param notProbed API types with methods taking a reference that no receiver stands for, and why
     */
    protected ModuleApiMisuseTest(Set<String> takesNull, Map<String, String> notProbed) {
        this.probe = new NullProbe(takesNull);
        this.takesNull = takesNull;
        this.notProbed = notProbed;
    }

    /** {@return the module's API types} */
    protected abstract List<Class<?>> apiTypes() throws IOException;

    protected final <T> void value(Class<T> type, T sample) {
        probe.sample(type, () -> sample);
    }

    protected final <T> void receive(Class<T> type, T receiver) {
        receivers.put(type, () -> receiver);
    }

    @Test
    void everyPublicConstructorAndStaticMethodRefusesNullAsUsage() throws Exception {
        NullProbe.assertNoneBroken(probe.statics(apiTypes()));
    }

    @Test
    void everyPublicMethodOfTheReceiversRefusesNullAsUsage() {
        SortedMap<String, String> broken = new TreeMap<>();
        receivers.forEach((type, receiver) -> broken.putAll(probe.methods(type, receiver)));
        NullProbe.assertNoneBroken(broken);
    }

    @Test
    void theSamplesAloneAreNoUsageErrorSoTheProbesProveSomething() throws Exception {
        probe.statics(apiTypes());
        receivers.forEach(probe::methods);
        assertEquals(Map.of(), probe.masked(), "calls whose ordinary arguments are a Usage error already");
        assertEquals(List.of(), probe.notMade(takesNull), "takesNull names calls no member makes");
    }

    @Test
    void everyTypeWithMethodsTakingAReferenceHasAReceiver() throws Exception {
        List<String> missing = new ArrayList<>();
        for (Class<?> type : apiTypes()) {
            String name = NullProbe.typeName(type);
            if (!NullProbe.instanceMethods(type).isEmpty() && !receivers.containsKey(type)
                    && !notProbed.containsKey(name)) {
                missing.add(name);
            }
        }
        assertEquals(List.of(), missing, "types with no receiver: add one, or say why not in notProbed");
    }
}
