package io.stload.modulepath;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The error contract held against nulls: calls public constructors and methods of an API with null for one
 * reference parameter at a time and an ordinary sample for each other parameter, and keeps each call that broke
 * the contract. A call keeps it by throwing a {@link StloadException} of kind {@link ErrorKind#Usage}, or, where its
 * javadoc takes null for that parameter (the caller's list of such calls), by returning as well.
 *
 * <p>A call is named as written, its null in place: {@code Checkpoint.open(Path, null UnknownDtypes)},
 * {@code new TensorInfo(null String, DType, Shape, long, long)}; the list of calls that take null names them so.
 * Left alone: the members of {@code Object} and of the JDK's types, and an enum's {@code valueOf}, whose null is
 * Java's own NullPointerException; and the methods a type inherits from another library (Jlama's
 * {@code WeightLoader} defaults), whose contract is that library's.
 *
 * <p>A Usage error proves nothing when the ordinary arguments alone are one: a member of two parameters or more is
 * also called with no null, and where that call is a Usage error its samples are said to mask the probe
 * ({@link #masked()}). A result that holds resources (a checkpoint, loaded weights) is closed.
 */
public final class NullProbe {
    /** Primitives are never null: any value lets the call reach its reference parameters. */
    private static final Map<Class<?>, Object> PRIMITIVES = Map.of(boolean.class, false, byte.class, (byte) 1,
            short.class, (short) 1, char.class, 'a', int.class, 1, long.class, 64L, float.class, 1f,
            double.class, 0.5);

    private final Set<String> takesNull;
    private final Map<Class<?>, Supplier<?>> samples = new HashMap<>();
    /** Samples for one member (a type's simple name, a dot, the member's name) in place of the ordinary ones. */
    private final Map<String, Map<Class<?>, Supplier<?>>> samplesFor = new HashMap<>();
    /** The ordinary arguments of one overload, by its call with no null, where samples by type cannot do. */
    private final Map<String, Supplier<Object[]>> argumentsFor = new HashMap<>();
    /** Every call made, so that a list naming a call no member makes can be told. */
    private final Set<String> made = new TreeSet<>();
    /** Calls whose ordinary arguments are a Usage error already, with its detail. */
    private final SortedMap<String, String> masked = new TreeMap<>();

    /** @param takesNull the calls whose javadoc takes null for the parameter named null */
    public NullProbe(Set<String> takesNull) {
        this.takesNull = takesNull;
        PRIMITIVES.forEach((type, value) -> samples.put(type, () -> value));
    }

    /**
     * Sets the ordinary value of a type: an enum's first constant, and an array of one sample, go without saying.
     *
     * @param make gives the value, once a call (the same one each time, or a fresh one where a call uses it up)
     * @return this probe
     */
    public <T> NullProbe sample(Class<T> type, Supplier<? extends T> make) {
        samples.put(type, make);
        return this;
    }

    /**
     * Sets the value of a type for the calls of one member only, such as an output folder for a writer where
     * other members read the sample checkpoint.
     *
     * @param member e.g. {@code SafetensorsWriter.write} or {@code new ShardIndex}: each overload of it
     * @return this probe
     */
    public <T> NullProbe sample(String member, Class<T> type, Supplier<? extends T> make) {
        samplesFor.computeIfAbsent(member, m -> new HashMap<>()).put(type, make);
        return this;
    }

    /**
     * Sets the ordinary arguments of one overload, such as a rank and a world size that fit each other.
     *
     * @param call the overload as called with no null, e.g. {@code new Partitioning(int, int, PartitionSpec)}
     * @param make gives the arguments, once a call
     * @return this probe
     */
    public NullProbe arguments(String call, Supplier<Object[]> make) {
        argumentsFor.put(call, make);
        return this;
    }

    /**
     * Each call of a public constructor or public static method of {@code types} that broke the contract.
     *
     * @return the call's name and what it did, in the order of the names
     */
    public SortedMap<String, String> statics(List<Class<?>> types) {
        SortedMap<String, String> broken = new TreeMap<>();
        for (Class<?> type : types) {
            if (!Modifier.isAbstract(type.getModifiers())) {
                for (Constructor<?> c : type.getConstructors()) {
                    probe(c, null, "new " + typeName(type), broken);
                }
            }
            for (Method m : type.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers()) && !m.isSynthetic()
                        && !(type.isEnum() && m.getName().equals("valueOf"))) {
                    probe(m, null, typeName(type) + "." + m.getName(), broken);
                }
            }
        }
        return broken;
    }

    /**
     * Each call of a public instance method of a receiver as an {@code apiType} (its own and those it inherits from
     * the API's types) that broke the contract.
     *
     * @param receiver gives the receiver of each call: the same one, or a fresh one where calls change it
     * @return the call's name and what it did, in the order of the names
     */
    public SortedMap<String, String> methods(Class<?> apiType, Supplier<?> receiver) {
        SortedMap<String, String> broken = new TreeMap<>();
        for (Method m : instanceMethods(apiType)) {
            probe(m, receiver, typeName(apiType) + "." + m.getName(), broken);
        }
        return broken;
    }

    /** The public instance methods of {@code apiType} that take a reference, declared by stload's types. */
    public static List<Method> instanceMethods(Class<?> apiType) {
        return Stream.of(apiType.getMethods())
                .filter(m -> !Modifier.isStatic(m.getModifiers()) && !m.isSynthetic() && !m.isBridge())
                .filter(m -> m.getDeclaringClass().getPackageName().startsWith("io.stload"))
                .filter(m -> !(m.getName().equals("equals") && m.getParameterCount() == 1))
                .filter(m -> Stream.of(m.getParameterTypes()).anyMatch(p -> !p.isPrimitive()))
                .sorted(Comparator.comparing(Method::toGenericString)).toList();
    }

    /** {@return the calls so far whose ordinary arguments are a Usage error already, with its detail} */
    public SortedMap<String, String> masked() {
        return masked;
    }

    /** The names among {@code calls} of no call made so far: a typo, or a member since changed. */
    public List<String> notMade(Set<String> calls) {
        return calls.stream().filter(c -> !made.contains(c)).sorted().toList();
    }

    private void probe(Executable e, Supplier<?> receiver, String name, Map<String, String> broken) {
        Class<?>[] types = e.getParameterTypes();
        if (types.length > 1 && invoke(e, receiver == null ? null : receiver.get(), arguments(name, types, -1))
                instanceof StloadException s && s.kind() == ErrorKind.Usage) {
            masked.put(name + callText(types, -1), s.detail());
        }
        for (int i = 0; i < types.length; i++) {
            if (types[i].isPrimitive()) {
                continue;
            }
            String call = name + callText(types, i);
            made.add(call);
            Throwable thrown = invoke(e, receiver == null ? null : receiver.get(), arguments(name, types, i));
            boolean kept = thrown instanceof StloadException s ? s.kind() == ErrorKind.Usage
                    : thrown == null && takesNull.contains(call);
            if (!kept) {
                broken.put(call, thrown == null ? "returned" : "threw " + describe(thrown));
            }
        }
    }

    private Object[] arguments(String member, Class<?>[] types, int nullAt) {
        Supplier<Object[]> given = argumentsFor.get(member + callText(types, -1));
        Map<Class<?>, Supplier<?>> own = samplesFor.getOrDefault(member, Map.of());
        Object[] args = given == null ? new Object[types.length] : given.get();
        for (int i = 0; i < types.length; i++) {
            if (i == nullAt) {
                args[i] = null;
            } else if (given == null) {
                args[i] = sample(types[i], own);
            }
        }
        return args;
    }

    private Object sample(Class<?> type, Map<Class<?>, Supplier<?>> own) {
        Supplier<?> make = own.getOrDefault(type, samples.get(type));
        if (make != null) {
            return make.get();
        }
        if (type.isEnum()) {
            return type.getEnumConstants()[0];
        }
        if (type.isArray()) {
            Object array = Array.newInstance(type.getComponentType(), 1);
            Array.set(array, 0, sample(type.getComponentType(), own));
            return array;
        }
        throw new IllegalStateException("no sample of " + type.getName() + ": add one to the table");
    }

    /** What the call threw, unwrapped from reflection's InvocationTargetException; null when it returned. */
    private static Throwable invoke(Executable e, Object receiver, Object[] args) {
        Object result;
        try {
            result = e instanceof Constructor<?> c ? c.newInstance(args) : ((Method) e).invoke(receiver, args);
        } catch (InvocationTargetException thrown) {
            return thrown.getCause();
        } catch (ReflectiveOperationException broken) {
            throw new IllegalStateException("cannot call " + e, broken);
        }
        if (result instanceof AutoCloseable resource && result != receiver) {
            try {
                resource.close();
            } catch (Exception failed) {
                throw new IllegalStateException("cannot close what " + e + " returned", failed);
            }
        }
        return null;
    }

    private static String callText(Class<?>[] types, int nullAt) {
        StringJoiner text = new StringJoiner(", ", "(", ")");
        for (int i = 0; i < types.length; i++) {
            text.add((i == nullAt ? "null " : "") + typeName(types[i]));
        }
        return text.toString();
    }

    private static String describe(Throwable thrown) {
        String what = thrown instanceof StloadException s ? "StloadException " + s.kind() + ": " + s.detail()
                : thrown.getClass().getSimpleName() + ": " + thrown.getMessage();
        StackTraceElement[] at = thrown.getStackTrace();
        return at.length == 0 ? what : what + " at " + at[0];
    }

    /** Fails unless no call broke the contract, naming each that did on a line of its own. */
    public static void assertNoneBroken(SortedMap<String, String> broken) {
        List<String> lines = broken.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).toList();
        assertTrue(lines.isEmpty(), () -> lines.size() + " calls with a null broke the Usage contract:\n"
                + String.join("\n", lines));
    }

    /** The name of a type within its package, with a dot between nested and enclosing type. */
    public static String typeName(Class<?> type) {
        if (type.isArray()) {
            return typeName(type.getComponentType()) + "[]";
        }
        return type.isPrimitive() ? type.getName()
                : type.getName().substring(type.getPackageName().length() + 1).replace('$', '.');
    }
}
