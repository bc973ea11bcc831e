package io.stload.nativeio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The CPU time this process has used, user and system apart: {@code utime} and {@code stime} of
 * {@code /proc/self/stat}, in clock ticks of 1/100 s (USER_HZ, fixed at 100 in the kernel's ABI on the
 * architectures we run on). Like {@link ProcessIo}, it is per process: the difference over a load is that load's
 * only when nothing else in the process works meanwhile.
 *
 * @param userNanos   time spent in user mode, -1 when unknown
 * @param systemNanos time spent in the kernel on the process's behalf, -1 when unknown
 */
public record ProcessCpu(long userNanos, long systemNanos) {
    /** Not known: not Linux, or /proc unreadable. */
    public static final ProcessCpu UNKNOWN = new ProcessCpu(-1, -1);
    private static final Path PROC_SELF_STAT = Path.of("/proc/self/stat");
    private static final long NANOS_PER_TICK = 10_000_000L;

    /** {@return the CPU time used so far, or {@link #UNKNOWN}} */
    public static ProcessCpu now() {
        return read(PROC_SELF_STAT);
    }

    static ProcessCpu read(Path procStat) {
        try {
            String stat = Files.readString(procStat);
            // The command name (field 2) is in parentheses and may hold spaces: fields are counted after its end.
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
            return new ProcessCpu(Long.parseLong(f[11]) * NANOS_PER_TICK, Long.parseLong(f[12]) * NANOS_PER_TICK);
        } catch (IOException | RuntimeException e) {
            return UNKNOWN;
        }
    }

    /**
     * The CPU time used since {@code before}.
     *
     * @param before an earlier reading
     * @return the difference, or {@link #UNKNOWN} when either reading is unknown
     */
    public ProcessCpu since(ProcessCpu before) {
        if (userNanos < 0 || before.userNanos < 0) {
            return UNKNOWN;
        }
        return new ProcessCpu(userNanos - before.userNanos, systemNanos - before.systemNanos);
    }
}
