package io.stload.cuda;

import io.stload.StloadException;
import io.stload.report.LoadReport;

/**
 * A device load's report: the host report's per-file strategies, totals and wall time, plus the two phases
 * that matter for a device load and how well they overlapped.
 *
 * @param load        per file, totals and wall time; its phases are the engine's ({@code plan}, {@code io},
 *                    {@code copy}, {@code wait}) and the device's: {@code pin} (pinning the staging ring, on a
 *                    loader's first load only), {@code h2d} (device seconds of copies) and {@code stage-wait}
 *                    (thread-seconds readers waited for a free staging window)
 * @param device      the device's name
 * @param readSeconds thread-seconds spent getting file bytes into staging windows
 * @param readThreads how many threads filled windows
 * @param h2dSeconds  seconds the device spent copying, summed over windows (one stream: they never overlap)
 * @param streamSeconds wall seconds of the load, planning and pinning left out
 */
public record DeviceReport(LoadReport load, String device, double readSeconds, int readThreads, double h2dSeconds,
                           double streamSeconds) {
    /**
     * Checks that the host report and the device are given.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code load} or {@code device} is null
     */
    public DeviceReport {
        if (load == null || device == null) {
            throw StloadException.usage("a device report needs the load's report and the device's name, not null");
        }
    }

    /**
     * The fraction of the shorter phase that was hidden under the longer one: 1 when reads and copies ran fully
     * pipelined (the stream took as long as the longer phase alone), 0 when they ran one after the other (the
     * stream took read + h2d). Reads are counted in wall seconds, i.e. thread-seconds over the filler threads.
     *
     * @return the overlap, from 0 to 1
     */
    public double overlap() {
        double read = readSeconds / readThreads;
        double shorter = Math.min(read, h2dSeconds);
        if (shorter <= 0) {
            return 0;
        }
        double hidden = read + h2dSeconds - streamSeconds;
        return Math.max(0, Math.min(1, hidden / shorter));
    }

    /** {@return the host-to-device GB/s while the device was copying: the ceiling the load ran against} */
    public double h2dGbps() {
        return h2dSeconds <= 0 ? 0 : load.bytes() / 1e9 / h2dSeconds;
    }
}
