package io.stload.plan;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which tensors a load takes: those whose name matches any of the patterns, or every tensor when there are
 * none. A pattern is a glob over the whole name ({@code *} any run of characters, dots included; {@code ?} one
 * character; everything else literal), or, prefixed with {@code re:}, a Java regular expression that must match
 * the whole name.
 */
public final class TensorFilter {
    /** Takes every tensor. */
    public static final TensorFilter ALL = new TensorFilter(List.of(), List.of());

    private final List<String> patterns;
    private final List<Pattern> compiled;
    /** For a filter of exact names, the names (looked up, not matched one by one); else null. */
    private final Set<String> names;

    private TensorFilter(List<String> patterns, List<Pattern> compiled) {
        this.patterns = List.copyOf(patterns);
        this.compiled = List.copyOf(compiled);
        this.names = null;
    }

    private TensorFilter(Set<String> names) {
        this.patterns = List.copyOf(names);
        this.compiled = List.of();
        this.names = names;
    }

    /**
     * A filter taking exactly the named tensors: names, not patterns (a {@code *} in one is a character), looked up
     * in constant time however many there are. A reload uses it to read only the tensors that changed.
     *
     * @param names the tensors' full names; at least one
     * @return the filter
     * @throws StloadException {@link ErrorKind#Usage} when {@code names} is empty (which would take every tensor)
     */
    public static TensorFilter names(Collection<String> names) {
        if (names == null || names.stream().anyMatch(Objects::isNull)) {
            throw StloadException.usage("a filter of tensor names takes names, not null");
        }
        if (names.isEmpty()) {
            throw StloadException.usage("a filter of tensor names needs at least one name");
        }
        return new TensorFilter(Collections.unmodifiableSet(new LinkedHashSet<>(names)));
    }

    /**
     * A filter taking the tensors any of {@code patterns} matches.
     *
     * @param patterns globs, or {@code re:} regular expressions; none for every tensor
     * @return the filter
     * @throws StloadException {@link ErrorKind#Usage} for a regular expression that does not compile
     */
    public static TensorFilter of(List<String> patterns) {
        if (patterns == null || patterns.stream().anyMatch(Objects::isNull)) {
            throw StloadException.usage("a tensor filter takes patterns, not null");
        }
        List<Pattern> compiled = new ArrayList<>();
        for (String p : patterns) {
            try {
                compiled.add(p.startsWith("re:") ? Pattern.compile(p.substring(3)) : PartitionRule.globToRegex(p));
            } catch (PatternSyntaxException e) {
                throw new StloadException(ErrorKind.Usage, null, "tensor pattern `" + p + "`: not a regular expression: "
                        + e.getDescription());
            }
        }
        return new TensorFilter(patterns, compiled);
    }

    /**
     * A filter taking the tensors any of {@code patterns} matches.
     *
     * @param patterns globs, or {@code re:} regular expressions; none for every tensor
     * @return the filter
     * @throws StloadException {@link ErrorKind#Usage} for a regular expression that does not compile
     */
    public static TensorFilter of(String... patterns) {
        return of(patterns == null ? null : Arrays.asList(patterns));
    }

    /**
     * Whether the filter takes every tensor.
     *
     * @return true when there are no patterns
     */
    public boolean isAll() {
        return patterns.isEmpty();
    }

    /**
     * The patterns as given (for a filter of {@link #names}, the names).
     *
     * @return the patterns, unmodifiable; empty for every tensor
     */
    public List<String> patterns() {
        return patterns;
    }

    /**
     * Whether the filter takes a tensor.
     *
     * @param name the tensor's full name
     * @return true when a pattern matches the whole name, or there are no patterns
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} is null
     */
    public boolean matches(String name) {
        StloadException.requireNonNull(name, "a filter matches a tensor's name, not null");
        if (names != null) {
            return names.contains(name);
        }
        if (compiled.isEmpty()) {
            return true;
        }
        for (Pattern p : compiled) {
            if (PartitionRule.wholeMatch(p, name)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Checks that every pattern matches some tensor, so that a misspelt name is an error, not an empty load.
     *
     * @param names the checkpoint's tensor names
     * @throws StloadException {@link ErrorKind#Usage} naming the first pattern that matches none of {@code names};
     *                         if {@code names} is null
     */
    public void requireEachMatches(Iterable<String> names) {
        StloadException.requireNonNull(names,
                "a filter's patterns are checked against the checkpoint's names, not null");
        if (this.names != null) {
            Set<String> missing = new LinkedHashSet<>(this.names);
            names.forEach(missing::remove);
            if (!missing.isEmpty()) {
                throw new StloadException(ErrorKind.Usage, null, "tensor `" + missing.iterator().next()
                        + "` is not in the checkpoint");
            }
            return;
        }
        boolean[] matched = new boolean[compiled.size()];
        for (String n : names) {
            for (int i = 0; i < compiled.size(); i++) {
                matched[i] |= !matched[i] && PartitionRule.wholeMatch(compiled.get(i), n);
            }
        }
        for (int i = 0; i < matched.length; i++) {
            if (!matched[i]) {
                throw new StloadException(ErrorKind.Usage, null, "tensor pattern `" + patterns.get(i)
                        + "` matches no tensor of the checkpoint");
            }
        }
    }

    /**
     * The filter as a person reads it.
     *
     * @return {@code all tensors}, or the patterns separated by blanks
     */
    @Override
    public String toString() {
        if (names != null) {
            return names.size() + " named tensor(s)";
        }
        return isAll() ? "all tensors" : String.join(" ", patterns);
    }
}
