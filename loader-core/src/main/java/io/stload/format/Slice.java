package io.stload.format;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Which part of a tensor to read, as Python's safetensors {@code get_slice} takes it ({@code t[64:128, ::2]}), built
 * without strings: one {@link Item} per leading dimension, each a single index ({@link #at}: it selects that index and
 * drops the dimension), a range ({@link #range}, {@link #from}, {@link #to}, {@link #all}) with an optional step
 * ({@link Item#step}), or {@link #ellipsis()}, which stands for as many whole dimensions as the other items leave.
 * Dimensions after the last item are taken whole.
 *
 * <pre>{@code
 * Slice rows = Slice.of(Slice.range(64, 128));                  // "64:128"
 * Slice cols = Slice.of(Slice.all(), Slice.from(1).step(2));     // ":, 1::2"
 * Slice last = Slice.of(Slice.ellipsis(), Slice.at(-1));         // "..., -1"
 * Tensor part = checkpoint.slice("model.embed_tokens.weight", rows);
 * }</pre>
 *
 * <p>Indices and bounds count from 0; a negative one counts from the end ({@code -1} is the last index), as in Python.
 * As in the reference implementation, and unlike a Python list, nothing is clamped: an index or a bound outside its
 * dimension is an error, as is a start after its stop; a step must be positive. (The reference refuses negative
 * bounds of a range, which this accepts with Python's meaning.) The string form, {@link #parse}, is the same
 * expression as text, and {@link #toString()} writes it back. A slice is immutable and resolved against a tensor by
 * {@link #on}.
 */
public final class Slice {
    /** No item: the whole tensor. */
    public static final Slice WHOLE = new Slice(List.of());
    /** How much of a slice's text its errors quote. */
    private static final int QUOTED = 120;

    private final List<Item> items;
    /** The text parsed, for messages; null for a slice built of items. */
    private final String text;

    private Slice(List<Item> items) {
        this(items, null);
    }

    private Slice(List<Item> items, String text) {
        this.items = items;
        this.text = text;
    }

    /** One item of a slice: an index, a range (with its step) or the ellipsis. Immutable. */
    public static final class Item {
        private enum Kind { INDEX, RANGE, ELLIPSIS }

        private final Kind kind;
        /** The index, or the range's start: null for an open start. */
        private final Bound start;
        /** The range's stop: null for an open stop. */
        private final Bound stop;
        private final long step;

        private Item(Kind kind, Bound start, Bound stop, long step) {
            this.kind = kind;
            this.start = start;
            this.stop = stop;
            this.step = step;
        }

        /**
         * The same range taking every {@code step}-th index of it, from its start: {@code start:stop:step}.
         *
         * @param step how many indices from one taken to the next, at least 1
         * @return the stepped range
         * @throws StloadException {@link ErrorKind#InvalidSlice} if the step is not positive;
         *         {@link ErrorKind#Usage} if this item is an index or the ellipsis
         */
        public Item step(long step) {
            if (kind != Kind.RANGE) {
                throw StloadException.usage("only a range has a step; `" + this + "` is not one");
            }
            if (step < 1) {
                throw new StloadException(ErrorKind.InvalidSlice, null, "slice step must be a positive integer, got "
                        + step);
            }
            return new Item(kind, start, stop, step);
        }

        /** {@return true for a single index, which drops its dimension from the result} */
        public boolean isIndex() {
            return kind == Kind.INDEX;
        }

        /** {@return true for the ellipsis} */
        public boolean isEllipsis() {
            return kind == Kind.ELLIPSIS;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Item i && kind == i.kind && Objects.equals(start, i.start)
                    && Objects.equals(stop, i.stop) && step == i.step;
        }

        @Override
        public int hashCode() {
            return Objects.hash(kind, start, stop, step);
        }

        /** {@return the item as the string form writes it: {@code 3}, {@code -1}, {@code 1:9:2}, {@code :}, {@code ...}} */
        @Override
        public String toString() {
            return switch (kind) {
                case INDEX -> start.toString();
                case ELLIPSIS -> "...";
                case RANGE -> (start == null ? "" : start.toString()) + ":" + (stop == null ? "" : stop.toString())
                        + (step == 1 ? "" : ":" + Long.toUnsignedString(step));
            };
        }
    }

    /**
     * A position as written: {@code magnitude} from the start, or from the end ({@code -magnitude}). The magnitude is
     * unsigned: a dimension may be 2^63 or more (in a tensor of zero elements), and so may a position in it.
     */
    private record Bound(long magnitude, boolean fromEnd, String beyond) {
        static Bound of(long position) {
            return position < 0 ? new Bound(-position, true, null) : new Bound(position, false, null);
        }

        /** A position written with more than 64 bits: outside every dimension. */
        static Bound beyond(String digits, boolean fromEnd) {
            return new Bound(0, fromEnd, digits);
        }

        @Override
        public String toString() {
            return (fromEnd ? "-" : "") + (beyond != null ? beyond : Long.toUnsignedString(magnitude));
        }
    }

    // ---- items ----

    /**
     * A single index, which drops its dimension from the result: {@code i}.
     *
     * @param index the index; negative counts from the end ({@code -1} is the last)
     * @return the item
     */
    public static Item at(long index) {
        return new Item(Item.Kind.INDEX, Bound.of(index), null, 1);
    }

    /**
     * The indices from {@code start} up to, not including, {@code stop}: {@code start:stop}.
     *
     * @param start the first index; negative counts from the end
     * @param stop  one past the last; negative counts from the end
     * @return the item; {@link Item#step} steps it
     */
    public static Item range(long start, long stop) {
        return new Item(Item.Kind.RANGE, Bound.of(start), Bound.of(stop), 1);
    }

    /**
     * The indices from {@code start} to the end: {@code start:}.
     *
     * @param start the first index; negative counts from the end
     * @return the item; {@link Item#step} steps it
     */
    public static Item from(long start) {
        return new Item(Item.Kind.RANGE, Bound.of(start), null, 1);
    }

    /**
     * The indices from the first up to, not including, {@code stop}: {@code :stop}.
     *
     * @param stop one past the last index; negative counts from the end
     * @return the item; {@link Item#step} steps it
     */
    public static Item to(long stop) {
        return new Item(Item.Kind.RANGE, null, Bound.of(stop), 1);
    }

    /**
     * Every index of the dimension: {@code :}.
     *
     * @return the item; {@link Item#step} steps it ({@code ::2})
     */
    public static Item all() {
        return new Item(Item.Kind.RANGE, null, null, 1);
    }

    /**
     * As many whole dimensions as the other items leave: {@code ...}; at most one per slice.
     *
     * @return the item
     */
    public static Item ellipsis() {
        return new Item(Item.Kind.ELLIPSIS, null, null, 1);
    }

    /**
     * A slice of these items, one per leading dimension (the ellipsis standing for several).
     *
     * @param items the items, outermost dimension first; none for the whole tensor
     * @return the slice
     * @throws StloadException {@link ErrorKind#InvalidSlice} for more than one ellipsis
     */
    public static Slice of(Item... items) {
        if (items == null || Arrays.asList(items).contains(null)) {
            throw StloadException.usage("a slice is made of items, not null");
        }
        List<Item> list = List.copyOf(Arrays.asList(items));
        if (list.stream().filter(Item::isEllipsis).count() > 1) {
            throw new StloadException(ErrorKind.InvalidSlice, null, "slice `" + Printable.start(join(list), QUOTED)
                    + "`: only one ellipsis (...) is allowed");
        }
        return new Slice(list);
    }

    /** {@return the items, outermost dimension first} */
    public List<Item> items() {
        return items;
    }

    // ---- the string form ----

    /**
     * Parses the string form: items separated by commas, each an index ({@code 3}, {@code -1}), a range
     * ({@code start:stop} or {@code start:stop:step}, any part left out: {@code :}, {@code 2:}, {@code ::2}) or
     * {@code ...}; blank for the whole tensor. Positions are decimal, optionally signed, and unsigned 64-bit as
     * dimensions are.
     *
     * @param text the slice, e.g. {@code "0:4,:"} or {@code "..., ::2"}
     * @return the slice
     * @throws StloadException {@link ErrorKind#InvalidSlice} if the text is not a slice
     */
    public static Slice parse(String text) {
        return parse(text, "");
    }

    /** Parses, each error's message starting with {@code context} (the tensor's name, or nothing). */
    static Slice parse(String text, String context) {
        if (text == null) {
            throw StloadException.usage(context + "a slice is text such as `0:2, ::2`, not null");
        }
        if (text.isBlank()) {
            return WHOLE;
        }
        List<Item> items = new ArrayList<>();
        String body = text.strip();
        if (body.length() > 1 && body.endsWith(",")) {
            body = body.substring(0, body.length() - 1); // Python's `a[1,]` is `a[1]`: a comma may end the items
        }
        for (String raw : body.split(",", -1)) {
            String item = raw.strip();
            if (item.equals("...")) {
                items.add(ellipsis());
                continue;
            }
            String[] parts = item.split(":", -1);
            if (parts.length == 1) {
                items.add(new Item(Item.Kind.INDEX, bound(text, context, item, true), null, 1));
                continue;
            }
            if (parts.length > 3) {
                throw invalid(text, context, "`" + item + "` is not an index, start:stop or start:stop:step");
            }
            Bound start = bound(text, context, parts[0].strip(), false);
            Bound stop = bound(text, context, parts[1].strip(), false);
            Item range = new Item(Item.Kind.RANGE, start, stop, 1);
            if (parts.length == 3 && !parts[2].isBlank()) {
                String step = parts[2].strip();
                boolean negative = step.startsWith("-");
                String digits = negative || step.startsWith("+") ? step.substring(1) : step;
                if (!digits(digits)) {
                    throw invalid(text, context, "step `" + step + "` is not an integer");
                }
                if (negative || digits.chars().allMatch(c -> c == '0')) {
                    throw invalid(text, context, "step must be a positive integer, got " + step);
                }
                try {
                    // Unsigned, as positions are: a step of 2^63 or more takes only the start of any dimension.
                    range = new Item(Item.Kind.RANGE, start, stop, Long.parseUnsignedLong(digits));
                } catch (NumberFormatException e) {
                    throw invalid(text, context, "step `" + step + "` is more than 2^64 - 1");
                }
            }
            items.add(range);
        }
        if (items.stream().filter(Item::isEllipsis).count() > 1) {
            throw invalid(text, context, "only one ellipsis (...) is allowed");
        }
        return new Slice(List.copyOf(items), text);
    }

    /** The slice as its errors quote it: as written, if it was parsed. */
    String quoted() {
        return Printable.start(text != null ? text : toString(), QUOTED);
    }

    /** An index or bound as written: {@code k}, {@code +k} or {@code -k}; null for an empty bound of a range. */
    private static Bound bound(String text, String context, String item, boolean required) {
        if (item.isEmpty() && !required) {
            return null;
        }
        boolean fromEnd = item.startsWith("-");
        String digits = fromEnd || item.startsWith("+") ? item.substring(1) : item;
        if (!digits(digits)) {
            throw invalid(text, context, "`" + item + "` is not an index, start:stop or start:stop:step");
        }
        long k;
        try {
            k = Long.parseUnsignedLong(digits);
        } catch (NumberFormatException e) {
            return Bound.beyond(digits, fromEnd); // outside any dimension, which the resolution says of which one
        }
        // -0 is 0, as in Python.
        return new Bound(k, fromEnd && k != 0, null);
    }

    private static boolean digits(String s) {
        return !s.isEmpty() && s.chars().allMatch(c -> c >= '0' && c <= '9');
    }

    private static StloadException invalid(String text, String context, String why) {
        return new StloadException(ErrorKind.InvalidSlice, null, context + "slice `" + Printable.start(text, QUOTED)
                + "`: " + Printable.start(why, QUOTED));
    }

    // ---- against a tensor ----

    /**
     * Resolves the slice against a tensor's shape: which indices of each dimension it takes, and which runs of the
     * tensor's bytes hold them.
     *
     * @param tensor the tensor it cuts
     * @return the resolved slice
     * @throws StloadException {@link ErrorKind#InvalidSlice} for more items than dimensions, or an index, bound or
     *         range outside its dimension; {@link ErrorKind#Unsupported} if it cuts a sub-byte tensor inside a byte,
     *         or cuts a tensor of a dtype the format does not define; {@link ErrorKind#Usage} if {@code tensor} is
     *         null
     */
    public SliceSpec on(TensorInfo tensor) {
        StloadException.requireNonNull(tensor, "a slice is resolved against a tensor, not null");
        return SliceSpec.resolve(this, tensor);
    }

    /** The resolution's view of an item, for {@link SliceSpec}. */
    record Resolved(boolean index, boolean ellipsis, long start, long count, long step) {
    }

    /**
     * Resolves one item against a dimension of {@code n} (unsigned).
     *
     * @param why filled with the reason when the item lies outside the dimension
     */
    static Resolved resolve(Item item, long n, StringBuilder why) {
        switch (item.kind) {
            case ELLIPSIS -> {
                return new Resolved(false, true, 0, n, 1);
            }
            case INDEX -> {
                long at = absolute(item.start, n);
                if (beforeStart(item.start, n) || Long.compareUnsigned(at, n) >= 0) {
                    why.append("index ").append(item.start).append(" is outside");
                    return null;
                }
                return new Resolved(true, false, at, 1, 1);
            }
            default -> {
                long start = item.start == null ? 0 : absolute(item.start, n);
                long stop = item.stop == null ? n : absolute(item.stop, n);
                if (item.start != null && beforeStart(item.start, n) || Long.compareUnsigned(start, n) > 0) {
                    why.append("start ").append(item.start).append(" is outside");
                    return null;
                }
                if (item.stop != null && beforeStart(item.stop, n) || Long.compareUnsigned(stop, n) > 0) {
                    why.append("stop ").append(item.stop).append(" is outside");
                    return null;
                }
                if (Long.compareUnsigned(start, stop) > 0) {
                    why.append("start ").append(item.start).append(" is after stop ").append(item.stop).append(" in");
                    return null;
                }
                long length = stop - start;
                long count = length == 0 ? 0 : Long.divideUnsigned(length - 1, item.step) + 1; // step is unsigned
                return new Resolved(false, false, start, count, item.step);
            }
        }
    }

    /** Where bound {@code b} lies in a dimension of {@code n} (unsigned): its magnitude, or {@code n} less it. */
    private static long absolute(Bound b, long n) {
        return b.fromEnd() ? n - b.magnitude() : b.magnitude();
    }

    /** Whether a position lies outside any dimension, or counted from the end lies before the dimension's start. */
    private static boolean beforeStart(Bound b, long n) {
        return b.beyond() != null || b.fromEnd() && Long.compareUnsigned(b.magnitude(), n) > 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Slice s && items.equals(s.items);
    }

    @Override
    public int hashCode() {
        return items.hashCode();
    }

    /** {@return the slice's string form, which {@link #parse} reads back: e.g. {@code 0:4, ::2, -1}; empty for whole} */
    @Override
    public String toString() {
        return join(items);
    }

    private static String join(List<Item> items) {
        return String.join(", ", items.stream().map(Item::toString).toList());
    }
}
