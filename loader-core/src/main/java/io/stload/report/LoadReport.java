package io.stload.report;

import io.stload.plan.FilePlan;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a load did and how fast: per file the strategy with its reasons (and anything that happened that the
 * plan did not say), totals, time per phase, and the per-tensor materialization latency distribution.
 *
 * @param files      per file, in plan order
 * @param tensors    tensors materialized
 * @param bytes      tensor bytes materialized (this rank's slices)
 * @param seconds    wall time of the load, planning included
 * @param phases     seconds per phase: {@code plan} is wall time; {@code io}, {@code copy} and {@code wait}
 *                   are thread-seconds summed over the threads that did them
 * @param bytesRead  bytes this rank's readers moved from its files (direct: whole aligned blocks; prefetch:
 *                   the plan's ranges, small gaps included; mmap: the plan's ranges copied out of the mapping)
 * @param rank       the tensor-parallel rank loaded
 * @param worldSize  ranks in its group
 * @param latency    per-tensor materialization latency, from the consumer asking to the bytes being in place
 * @param kernelBytesRead what the kernel counted this process reading from storage during the load
 *                   ({@code /proc/self/io} read_bytes): page-cache hits excluded, readahead included; -1 unknown
 */
public record LoadReport(List<FileReport> files, int tensors, long bytes, double seconds, Map<String, Double> phases,
                         long bytesRead, int rank, int worldSize, Latency latency, long kernelBytesRead) {
    /** Copies the list and the map into unmodifiable ones. */
    public LoadReport {
        files = List.copyOf(files);
        phases = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(phases));
    }

    /**
     * A report without the kernel's count (-1: unknown).
     *
     * @param files     per file, in plan order
     * @param tensors   tensors materialized
     * @param bytes     tensor bytes materialized
     * @param seconds   wall time of the load
     * @param phases    seconds per phase
     * @param bytesRead bytes the readers moved from the files
     * @param rank      the rank loaded
     * @param worldSize ranks in its group
     * @param latency   per-tensor materialization latency
     */
    public LoadReport(List<FileReport> files, int tensors, long bytes, double seconds, Map<String, Double> phases,
                      long bytesRead, int rank, int worldSize, Latency latency) {
        this(files, tensors, bytes, seconds, phases, bytesRead, rank, worldSize, latency, -1);
    }

    /** {@return the throughput in GB/s, decimal: bytes / 1e9 / seconds; 0 for a load that took no time} */
    public double gbps() {
        return seconds <= 0 ? 0 : bytes / 1e9 / seconds;
    }

    /**
     * One file (its {@link io.stload.checkpoint.Checkpoint#location location} too): the strategy used, the rule that chose it ({@link io.stload.plan.DecisionRule#jsonName()}), why,
     * notes from execution (null when none), and the bytes the plan reads.
     *
     * @param file     the file's path
     * @param location where the file is, as the user names it (a path, or an {@code s3://} URL)
     * @param strategy the strategy used, as the flag spells it
     * @param rule     the rule that chose it
     * @param reasons  the facts it weighed, in words; copied
     * @param note     what happened that the plan did not say, or null
     * @param bytes    the bytes the plan reads from the file
     */
    public record FileReport(Path file, String location, String strategy, String rule, List<String> reasons,
                             String note, long bytes) {
        /** Copies the reasons. */
        public FileReport {
            reasons = List.copyOf(reasons);
        }

        /**
         * Reports what the plan decided for a file.
         *
         * @param plan     the file's plan
         * @param location where the file is, as the user names it
         * @param note     a note from execution, or null
         * @return the file's report
         */
        public static FileReport of(FilePlan plan, String location, String note) {
            return new FileReport(plan.file().file(), location, plan.strategy().flagValue(), plan.rule().jsonName(),
                    plan.decision().reasons(), note,
                    plan.facts().bytesToRead());
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
}
