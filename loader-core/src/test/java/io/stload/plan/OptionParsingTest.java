package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.Slice;
import io.stload.format.SliceSpec;
import io.stload.format.TensorInfo;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The plain parsers a host application's own flag parser calls: a bad value is a StloadException of kind Usage. */
class OptionParsingTest {
    @Test
    void strategiesParseCaseInsensitively() {
        assertEquals(LoadStrategy.DIRECT, LoadStrategy.parse("Direct"));
        assertEquals("auto|mmap|prefetch|direct|s3", LoadStrategy.choices());
        StloadException e = assertThrows(StloadException.class, () -> LoadStrategy.parse("fast"));
        assertEquals("unknown strategy 'fast'; expected one of auto|mmap|prefetch|direct|s3", e.detail());
        assertEquals(ErrorKind.Usage, e.kind());
        assertThrows(StloadException.class, () -> LoadStrategy.parse(null));
    }

    @Test
    void sizesParseBinaryAndDecimalUnits() {
        assertEquals(4096, Sizes.parse("4096"));
        assertEquals(64L << 20, Sizes.parse("64MiB"));
        assertEquals(3L << 29, Sizes.parse("1.5GiB"));
        assertEquals(2_000_000_000L, Sizes.parse("2GB"));
        assertEquals(1L << 40, Sizes.parse("1 TiB"));
        assertEquals(7, Sizes.parse("7B"));
        assertEquals(2_000, Sizes.parse("2kb"));
        assertEquals(256L << 20, Sizes.parse(" 256 mib "));
        assertEquals(307, Sizes.parse("0.3KiB"));
        for (String bad : new String[] {"MiB", "", "-1", "lots", null}) {
            StloadException e = assertThrows(StloadException.class, () -> Sizes.parse(bad));
            assertEquals("not a size: " + (bad == null ? "null" : "'" + bad + "' (examples: 4096, 64MiB, 2GiB, 1.5GB)"),
                    e.detail());
        }
        assertEquals("size too large: '99999999PiB'",
                assertThrows(StloadException.class, () -> Sizes.parse("99999999PiB")).detail());
        // 64M is 64 MiB to the JVM and dd, 64 MB to others; a fraction of a byte is no count.
        assertEquals("ambiguous size: '64m'; write 64MiB (binary) or 64MB (decimal)",
                assertThrows(StloadException.class, () -> Sizes.parse("64m")).detail());
        assertEquals("not a size: '1.5B' (bytes are whole; examples: 4096, 1.5KiB)",
                assertThrows(StloadException.class, () -> Sizes.parse("1.5B")).detail());
        assertEquals(1000, Sizes.parse("1kB"));
        // What human() prints parses back, up to its largest unit; whole numbers stay exact past a double's 2^53.
        assertEquals(1L << 60, Sizes.parse(Sizes.human(1L << 60)));
        assertEquals(Long.MAX_VALUE, Sizes.parse(Long.toString(Long.MAX_VALUE)));
        assertEquals((1L << 53) + 1, Sizes.parse(Long.toString((1L << 53) + 1)));
        for (String tooLarge : new String[] {"8EiB", "9223372036854775808"}) {
            assertEquals("size too large: '" + tooLarge + "'",
                    assertThrows(StloadException.class, () -> Sizes.parse(tooLarge)).detail());
        }
    }

    @Test
    void ordersParseCaseInsensitively() {
        assertEquals(ReadOrder.SHUFFLED, ReadOrder.parse(" Shuffled"));
        assertEquals("unknown order 'random'; expected one of file|shuffled",
                assertThrows(StloadException.class, () -> ReadOrder.parse("random")).detail());
    }

    @Test
    void thresholdsRejectNonsense() {
        assertThrows(StloadException.class, () -> Thresholds.DEFAULTS.withColdLocal(LoadStrategy.MMAP));
        assertThrows(StloadException.class, () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 1 << 20, 1 << 20, 1000, 0));
        assertThrows(StloadException.class, () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 1 << 20, 1 << 20, 4096, -1));
    }

    @Test
    void windowsAndBlocksHaveAOnePageFloor() {
        // A 1-byte window made one window object per byte of the checkpoint.
        assertThrows(StloadException.class, () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 1, 1, 4096, 0));
        assertThrows(StloadException.class, () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4095, 8192, 4096, 0));
        assertThrows(StloadException.class, () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4096, 4095, 4096, 0));
        assertThrows(StloadException.class, () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4096, 4096, 0, 0));
        assertEquals(4096, new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4096, 4096, 4096, 0).prefetchWindow());
    }

    /** Sizes near 2^63 overflowed the readers' offsets (an internal error), and a NaN factor made AUTO's tests false. */
    @Test
    void sizesHaveACeilingAndFractionsAreFiniteNumbers() {
        long gib = 1L << 30;
        long huge = Long.MAX_VALUE & ~4095L;
        for (Runnable bad : List.<Runnable>of(
                () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, huge, huge, 4096, 0),
                () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 2 * gib, 2 * gib, 4096, 0),
                () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4096, huge, 4096, 0),
                () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4096, 4096, huge, 0),
                () -> new Thresholds(0.8, 1, 1.2, LoadStrategy.DIRECT, 4096, 4096, 4096, huge),
                () -> new Thresholds(Double.NaN, 1, 1.2, LoadStrategy.DIRECT, 4096, 4096, 4096, 0),
                () -> new Thresholds(0.8, 1, Double.POSITIVE_INFINITY, LoadStrategy.DIRECT, 4096, 4096, 4096, 0),
                () -> new Thresholds(-0.1, 1, 1.2, LoadStrategy.DIRECT, 4096, 4096, 4096, 0),
                () -> new Thresholds(0.8, -1, 1.2, LoadStrategy.DIRECT, 4096, 4096, 4096, 0))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, bad::run).kind());
        }
        Thresholds most = new Thresholds(2, 0, 0, LoadStrategy.PREFETCH, gib, 1L << 40, gib, gib);
        assertEquals(1L << 40, most.prefetchAhead());
    }

    @Test
    void nullPatternsAndSlicesAreAUsageError() {
        TensorInfo info = new TensorInfo("t", DType.F32, new long[] {4}, 0, 16);
        for (Runnable bad : List.<Runnable>of(() -> TensorFilter.of((List<String>) null),
                () -> TensorFilter.of("a", null), () -> TensorFilter.names(Arrays.asList("a", null)),
                () -> TensorFilter.names(null), () -> LoadOptions.DEFAULTS.withTensors("a", null),
                () -> Slice.of((Slice.Item[]) null), () -> Slice.of(Slice.all(), null), () -> Slice.parse(null),
                () -> SliceSpec.parse(null, info), () -> SliceSpec.parse("0:2", null))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, bad::run).kind());
        }
    }

    @Test
    void nullOptionsAreAUsageError() {
        LoadOptions d = LoadOptions.DEFAULTS;
        for (Runnable bad : List.<Runnable>of(() -> d.withStrategy(null), () -> d.withOrder(null),
                () -> d.withThresholds(null), () -> d.withPartitioning(null), () -> d.withTensors((TensorFilter) null))) {
            assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, bad::run).kind());
        }
    }
}
