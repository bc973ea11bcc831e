package io.stload.report;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.plan.DecisionRule;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadStrategy;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What a load did, how fast and at what cost: per file the strategy with the rule that chose it and its reasons
 * (and anything that happened that the plan did not say), totals, time per {@link Phase}, the CPU time the process
 * spent, and the per-tensor materialization latency distribution.
 *
 * @param files      per file, in plan order
 * @param tensors    tensors materialized
 * @param bytes      tensor bytes materialized (this rank's slices)
 * @param seconds    wall time of the load, planning included
 * @param phases     seconds per phase ({@link Phase} says which are wall time and which thread-seconds); a phase
 *                   the load did not have is absent, and {@link #seconds(Phase)} reads it as 0
 * @param bytesRead  bytes this rank's readers moved from its files (direct: whole aligned blocks; prefetch:
 *                   the plan's ranges, small gaps included; mmap: the plan's ranges copied out of the mapping)
 * @param rank       the tensor-parallel rank loaded
 * @param worldSize  ranks in its group
 * @param latency    per-tensor materialization latency, from the consumer asking to the bytes being in place
 * @param kernelBytesRead what the kernel counted this process reading from storage during the load
 *                   ({@code /proc/self/io} read_bytes): page-cache hits excluded, readahead included; -1 unknown
 * @param cpu        CPU time the process spent during the load, user and system
 * @param memory     the host memory the loader held for the load: its destination's and its read buffers
 */
public record LoadReport(List<FileReport> files, int tensors, long bytes, double seconds, Map<Phase, Double> phases,
                         long bytesRead, int rank, int worldSize, Latency latency, long kernelBytesRead, Cpu cpu,
                         Memory memory) {
    /**
     * Copies the list and the map into unmodifiable ones.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code files}, {@code phases}, {@code latency},
     *                         {@code cpu} or {@code memory} is null
     */
    public LoadReport {
        if (files == null || phases == null || latency == null || cpu == null || memory == null) {
            throw StloadException.usage("a load report needs its files, phases, latency, CPU time and memory, "
                    + "not null");
        }
        files = List.copyOf(files);
        phases = Collections.unmodifiableMap(phases.isEmpty() ? new EnumMap<>(Phase.class) : new EnumMap<>(phases));
    }

    /** {@return the throughput in GB/s, decimal: bytes / 1e9 / seconds; 0 for a load that took no time} */
    public double gbps() {
        return seconds <= 0 ? 0 : bytes / 1e9 / seconds;
    }

    /**
     * Seconds spent in one phase.
     *
     * @param phase the phase
     * @return its seconds, 0 when the load had no such phase
     * @throws StloadException {@link ErrorKind#Usage} if {@code phase} is null
     */
    public double seconds(Phase phase) {
        StloadException.requireNonNull(phase, "a phase's seconds are asked of a phase, not null");
        return phases.getOrDefault(phase, 0.0);
    }

    /**
     * One file (its {@link io.stload.checkpoint.Checkpoint#location location} too): the strategy used, the rule that
     * chose it, why, notes from execution (null when none), and the bytes the plan reads.
     *
     * @param file     the file's path
     * @param location where the file is, as the user names it (a path, or an {@code s3://} URL)
     * @param strategy the strategy used (never AUTO)
     * @param rule     the rule that chose it
     * @param reasons  the facts it weighed, in words; copied
     * @param note     what happened that the plan did not say, or null
     * @param bytes    the bytes the plan reads from the file
     */
    public record FileReport(Path file, String location, LoadStrategy strategy, DecisionRule rule,
                             List<String> reasons, String note, long bytes) {
        /**
         * Copies the reasons.
         *
         * @throws StloadException {@link ErrorKind#Usage} if any component but {@code note} is null
         */
        public FileReport {
            if (file == null || location == null || strategy == null || rule == null || reasons == null) {
                throw StloadException.usage("a file's report needs its file, location, strategy, rule and reasons, "
                        + "not null");
            }
            reasons = List.copyOf(reasons);
        }

        /**
         * Reports what the plan decided for a file.
         *
         * @param plan     the file's plan
         * @param location where the file is, as the user names it
         * @param note     a note from execution, or null
         * @return the file's report
         * @throws StloadException {@link ErrorKind#Usage} if {@code plan} or {@code location} is null
         */
        public static FileReport of(FilePlan plan, String location, String note) {
            StloadException.requireNonNull(plan, "a file's report is made from its plan, not null");
            return new FileReport(plan.file().file(), location, plan.strategy(), plan.rule(),
                    plan.decision().reasons(), note, plan.facts().bytesToRead());
        }
    }

    /**
     * Per-tensor materialization latency, in microseconds.
     *
     * @param p50 the median
     * @param p99 the 99th percentile
     * @param max the slowest
     */
    public record Latency(long p50, long p99, long max) {
    }

    /**
     * The host memory the loader itself held for a load, at its peak: what a budget bounds. It is not the process's
     * resident set: the pages of a mapped file that mmap and prefetch copy from count there too (reclaimable, but in
     * RSS), as do the JVM's heap and code; direct reads map nothing.
     *
     * @param budgetBytes          the budget the destination held to (a stream's, a staging ring's), its default
     *                             resolved; 0 for a destination without one (host memory holds the rank's bytes)
     * @param destinationPeakBytes the most bytes the destination held at once: a stream's slice buffers, in use or
     *                             kept for reuse; host memory's tensors; 0 for memory of the caller's own
     * @param readBufferBytes      the direct reads' bounce buffers (at most one block per I/O thread, held for the whole
     *                             load); 0 when no read needed one
     */
    public record Memory(long budgetBytes, long destinationPeakBytes, long readBufferBytes) {
        /** Nothing held, nothing known. */
        public static final Memory NONE = new Memory(0, 0, 0);

        /** {@return the most the loader held at once, at most: the destination's peak plus the read buffers} */
        public long peakHeldBytes() {
            return destinationPeakBytes + readBufferBytes;
        }
    }

    /**
     * CPU time the whole process spent while the load ran (the loader's threads, and anything else the process
     * did meanwhile), in seconds.
     *
     * @param userSeconds   in user mode; -1 when the platform does not say
     * @param systemSeconds in the kernel on the process's behalf; -1 when the platform does not say
     */
    public record Cpu(double userSeconds, double systemSeconds) {
        /** Not known on this platform. */
        public static final Cpu UNKNOWN = new Cpu(-1, -1);

        /** {@return user plus system seconds, or -1 when unknown} */
        public double totalSeconds() {
            return userSeconds < 0 ? -1 : userSeconds + systemSeconds;
        }

        /**
         * The cost of moving {@code bytes}.
         *
         * @param bytes the bytes the load materialized
         * @return decimal GB per CPU-second, or -1 when the CPU time is unknown or zero
         */
        public double gbPerCpuSecond(long bytes) {
            double total = totalSeconds();
            return total <= 0 ? -1 : bytes / 1e9 / total;
        }
    }
}
