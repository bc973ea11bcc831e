package io.stload.modulepath;

import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * What a module's API lets through: every public or protected member of every public type in a package the module
 * exports to everyone may name only types from {@code java.*}, from packages the module exports, or from packages
 * the modules it {@code requires} export to everyone. A member naming an internal type is an internal made public
 * by accident.
 *
 * <p>Reads the module descriptor from the compiled classes, so it works on the class path the suite runs on.
 */
public final class ApiSurface {
    private final ClassLoader loader;
    private final Path classes;
    private final ModuleDescriptor module;
    private final Set<String> exported;
    private final Map<Class<?>, Boolean> allowed = new ConcurrentHashMap<>();

    private ApiSurface(Class<?> anyTypeOfModule) {
        this.loader = anyTypeOfModule.getClassLoader();
        this.classes = locationOf(anyTypeOfModule).orElseThrow();
        this.module = ModuleFinder.of(classes).findAll().stream().findFirst()
                .orElseThrow(() -> new IllegalStateException("no module-info.class in " + classes)).descriptor();
        this.exported = module.exports().stream().filter(e -> !e.isQualified()).map(ModuleDescriptor.Exports::source)
                .collect(Collectors.toUnmodifiableSet());
    }

    /** Each member of the API of the module holding {@code anyTypeOfModule} that names a type outside it. */
    public static List<String> leaks(Class<?> anyTypeOfModule) throws IOException {
        return new ApiSurface(anyTypeOfModule).leaks();
    }

    /** The module's name, as its descriptor gives it. */
    public static String moduleName(Class<?> anyTypeOfModule) {
        return new ApiSurface(anyTypeOfModule).module.name();
    }

    private List<String> leaks() throws IOException {
        List<String> leaks = new ArrayList<>();
        for (Class<?> type : publicTypes()) {
            check(type, "extends", type.getGenericSuperclass(), leaks);
            for (Type i : type.getGenericInterfaces()) {
                check(type, "implements", i, leaks);
            }
            checkTypeParameters(type, type.getTypeParameters(), leaks);
            for (Field f : type.getDeclaredFields()) {
                if (visible(f)) {
                    check(f, "field", f.getGenericType(), leaks);
                }
            }
            for (Constructor<?> c : type.getDeclaredConstructors()) {
                if (visible(c)) {
                    checkExecutable(c, leaks);
                }
            }
            for (Method m : type.getDeclaredMethods()) {
                if (visible(m) && !m.isSynthetic() && !m.isBridge()) {
                    check(m, "returns", m.getGenericReturnType(), leaks);
                    checkExecutable(m, leaks);
                }
            }
        }
        return leaks;
    }

    /**
     * The module's API, one line per public type and per public or protected member, sorted: what a change to the API
     * changes. Members are written with their generic types, as {@code toGenericString} gives them; synthetic and
     * bridge members are left out (the compiler's, not ours), and so are a record's and an enum's implicit members.
     */
    public static List<String> signatures(Class<?> anyTypeOfModule) throws IOException {
        return new ApiSurface(anyTypeOfModule).signatures();
    }

    private List<String> signatures() throws IOException {
        List<String> lines = new ArrayList<>();
        for (Class<?> type : publicTypes()) {
            String name = type.getName();
            lines.add(name + ": " + type.toGenericString());
            for (Field f : type.getDeclaredFields()) {
                if (visible(f) && !f.isSynthetic() && !f.isEnumConstant()) {
                    lines.add(name + ": " + f.toGenericString());
                }
            }
            for (Constructor<?> c : type.getDeclaredConstructors()) {
                if (visible(c) && !c.isSynthetic()) {
                    lines.add(name + ": " + c.toGenericString());
                }
            }
            for (Method m : type.getDeclaredMethods()) {
                if (visible(m) && !m.isSynthetic() && !m.isBridge()) {
                    lines.add(name + ": " + m.toGenericString());
                }
            }
            for (Object constant : type.isEnum() ? type.getEnumConstants() : new Object[0]) {
                lines.add(name + ": enum constant " + constant);
            }
        }
        return lines.stream().sorted().distinct().toList();
    }

    /** The public types of the module's exported packages, in the order {@link #signatures} lists them. */
    public static List<Class<?>> types(Class<?> anyTypeOfModule) throws IOException {
        return new ApiSurface(anyTypeOfModule).publicTypes();
    }

    private List<Class<?>> publicTypes() throws IOException {
        List<Class<?>> types = new ArrayList<>();
        for (String pkg : exported.stream().sorted().toList()) {
            types.addAll(publicTypes(classes, pkg, loader));
        }
        return types;
    }

    /**
     * The public types of the package of {@code anyTypeOfPackage}, for a module without a descriptor (a plain jar,
     * whose public types are all its API).
     */
    public static List<Class<?>> typesOfPackage(Class<?> anyTypeOfPackage) throws IOException {
        return publicTypes(locationOf(anyTypeOfPackage).orElseThrow(), anyTypeOfPackage.getPackageName(),
                anyTypeOfPackage.getClassLoader());
    }

    private static List<Class<?>> publicTypes(Path classes, String pkg, ClassLoader loader) throws IOException {
        List<Class<?>> types = new ArrayList<>();
        Path dir = classes.resolve(pkg.replace('.', '/'));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                String name = f.getFileName().toString();
                if (!name.endsWith(".class") || name.equals("package-info.class")) {
                    continue;
                }
                Class<?> type = load(pkg + "." + name.substring(0, name.length() - ".class".length()), loader);
                if (!type.isAnonymousClass() && !type.isLocalClass() && isApi(type)) {
                    types.add(type);
                }
            }
        }
        return types;
    }

    /** A public type reachable from outside: itself and every type enclosing it public. */
    private static boolean isApi(Class<?> type) {
        for (Class<?> t = type; t != null; t = t.getEnclosingClass()) {
            if (!Modifier.isPublic(t.getModifiers())) {
                return false;
            }
        }
        return true;
    }

    private static boolean visible(Member m) {
        return Modifier.isPublic(m.getModifiers()) || Modifier.isProtected(m.getModifiers())
                && !Modifier.isFinal(m.getDeclaringClass().getModifiers());
    }

    private void checkExecutable(Executable e, List<String> leaks) {
        for (Type p : e.getGenericParameterTypes()) {
            check(e, "parameter", p, leaks);
        }
        for (Type t : e.getGenericExceptionTypes()) {
            check(e, "throws", t, leaks);
        }
        checkTypeParameters(e, e.getTypeParameters(), leaks);
    }

    private void checkTypeParameters(Object owner, TypeVariable<?>[] parameters, List<String> leaks) {
        for (TypeVariable<?> v : parameters) {
            for (Type bound : v.getBounds()) {
                check(owner, "bound of " + v.getName(), bound, leaks);
            }
        }
    }

    private void check(Object owner, String role, Type type, List<String> leaks) {
        List<Class<?>> named = new ArrayList<>();
        collect(type, named);
        for (Class<?> c : named) {
            if (!allowed.computeIfAbsent(c, this::allowed)) {
                leaks.add(owner + ": " + role + " " + c.getName());
            }
        }
    }

    private static void collect(Type type, List<Class<?>> into) {
        switch (type) {
            case null -> {
            }
            case Class<?> c -> {
                Class<?> element = c;
                while (element.isArray()) {
                    element = element.getComponentType();
                }
                if (!element.isPrimitive()) {
                    into.add(element);
                }
            }
            case ParameterizedType p -> {
                collect(p.getRawType(), into);
                collect(p.getOwnerType(), into);
                for (Type a : p.getActualTypeArguments()) {
                    collect(a, into);
                }
            }
            case WildcardType w -> {
                for (Type b : w.getUpperBounds()) {
                    collect(b, into);
                }
                for (Type b : w.getLowerBounds()) {
                    collect(b, into);
                }
            }
            case GenericArrayType g -> collect(g.getGenericComponentType(), into);
            // A type variable's bounds are checked where it is declared.
            default -> {
            }
        }
    }

    private boolean allowed(Class<?> c) {
        String pkg = c.getPackageName();
        if (pkg.startsWith("java.")) {
            return true;
        }
        if (locationOf(c).filter(classes::equals).isPresent()) {
            return exported.contains(pkg) && isApi(c);
        }
        Set<String> required = module.requires().stream().map(ModuleDescriptor.Requires::name)
                .collect(Collectors.toSet());
        return moduleOf(c).filter(m -> required.contains(m.name()))
                .filter(m -> m.isAutomatic() || m.exports().stream()
                        .anyMatch(e -> !e.isQualified() && e.source().equals(pkg)))
                .isPresent();
    }

    /** The module a type's jar or folder holds, declared or (for a plain jar) automatic. */
    private static Optional<ModuleDescriptor> moduleOf(Class<?> c) {
        if (c.getModule().isNamed()) {
            return Optional.of(c.getModule().getDescriptor());
        }
        return locationOf(c).flatMap(at -> ModuleFinder.of(at).findAll().stream().findFirst())
                .map(ModuleReference::descriptor);
    }

    private static Optional<Path> locationOf(Class<?> c) {
        CodeSource source = c.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(Path.of(source.getLocation().toURI()));
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Class<?> load(String name, ClassLoader loader) {
        try {
            return Class.forName(name, false, loader);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
    }
}
