package io.stload.jmh;

import io.stload.format.Convert;
import io.stload.format.DType;
import io.stload.plan.Sizes;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Conversion on one core against the plain copy of the same input bytes ({@link MemorySegment#copy}), both
 * between native segments as a loader holds them. The {@code inputBytes} counter is the rate that matters:
 * bytes of input per second (GB/s once divided by 1e9); {@code convert} over {@code copy} for one conversion
 * is the ratio the target speaks of (docs/benchmarks.md: BF16 to F32 at least 0.5x the copy rate). The input is random
 * bits, NaNs and subnormals included, so no conversion gets an easy case. The fork adds the Vector API
 * module, which BF16's loops use ({@link Convert#vectorized()}); a {@code -jvmArgsAppend} on the command line
 * replaces that argument, so {@code -jvmArgsAppend -Dscalar} measures the scalar loops side by side.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
@Threads(1)
@State(Scope.Thread)
public class ConvertBenchmark {
    /** From type to type, as {@code SOURCE->TARGET}. */
    @Param({"BF16->F32", "F16->F32", "F8_E4M3->F32", "F8_E5M2->F32", "F32->BF16", "F32->F16"})
    public String conversion;

    /**
     * Bytes of input: 1 MiB stays in the caches; 64 MiB overflows them, as most of a real checkpoint's bytes do;
     * 8 MiB sits between, where (with a 32 MiB L3) a copy's 16 MiB fits the cache and a BF16 -> F32 conversion's
     * 24 MiB does not.
     */
    @Param({"1MiB", "8MiB", "64MiB"})
    public String size;

    private Arena arena;
    private DType from;
    private DType to;
    private MemorySegment input;
    private MemorySegment output;
    private MemorySegment copy;

    /** Bytes of input handled, reported per second. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Rate {
        public long inputBytes;
    }

    @Setup(Level.Trial)
    public void allocate() {
        String[] types = conversion.split("->");
        from = DType.valueOf(types[0]);
        to = DType.valueOf(types[1]);
        long bytes = Sizes.parse(size);
        arena = Arena.ofShared();
        input = arena.allocate(bytes, 64);
        byte[] random = new byte[(int) bytes];
        new SplittableRandom(1).nextBytes(random);
        MemorySegment.copy(MemorySegment.ofArray(random), 0, input, 0, bytes);
        output = arena.allocate(bytes / (from.bits() / 8) * (to.bits() / 8), 64);
        copy = arena.allocate(bytes, 64);
    }

    @TearDown(Level.Trial)
    public void free() {
        arena.close();
    }

    @Benchmark
    public void convert(Rate rate) {
        if (to == DType.F32) {
            Convert.toF32(from, input, output);
        } else {
            Convert.fromF32(to, input, output);
        }
        rate.inputBytes += input.byteSize();
    }

    @Benchmark
    public void copy(Rate rate) {
        MemorySegment.copy(input, 0, copy, 0, input.byteSize());
        rate.inputBytes += input.byteSize();
    }
}
