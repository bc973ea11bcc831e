package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.cuda.Pinning;
import io.stload.cuda.RingOptions;
import io.stload.plan.Sizes;
import java.util.Locale;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Where {@code load} puts the tensors, and the staging ring's shape for a GPU. Plain data: parsing these never
 * touches the CUDA module's JCuda classes, so host loads never load them.
 */
final class DeviceFlags implements CheckedFlags {
    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu, or cuda[:N] to load into GPU N's memory (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--ring-windows", paramLabel = "N", defaultValue = "8",
            description = "GPU: pinned staging windows (default: ${DEFAULT-VALUE}).")
    int windows;

    @Option(names = "--ring-window-size", paramLabel = "SIZE", defaultValue = "64MiB",
            description = "GPU: bytes per staging window, a multiple of 4 KiB, at most 1 GiB (default: ${DEFAULT-VALUE}).")
    String windowSize;

    @Mixin
    PinningFlag pinning;

    /** -1 for the host, else the CUDA device ordinal. */
    int cudaOrdinal() {
        return parseDevice(device);
    }

    static int parseDevice(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("cpu")) {
            return -1;
        }
        if (v.equals("cuda")) {
            return 0;
        }
        if (v.startsWith("cuda:")) {
            try {
                int n = Integer.parseInt(v.substring(5));
                if (n >= 0) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        throw new StloadException(ErrorKind.Usage, null, "unknown --device '" + value + "'; expected cpu, cuda or cuda:N");
    }

    long windowBytes() {
        return FlagValue.parse("--ring-window-size", windowSize, Sizes::parse);
    }

    /** The staging ring the flags describe (plain values of the CUDA module: no JCuda class is loaded). */
    RingOptions ring() {
        Pinning how = pinning.value();
        FlagValue.inRange("--ring-windows", windows, 2, 4096);
        long window = windowBytes();
        if (window < 4096 || window % 4096 != 0 || window > RingOptions.MAX_WINDOW_BYTES) {
            throw FlagValue.usage("--ring-window-size: must be a multiple of 4 KiB from 4KiB to 1GiB, not "
                    + windowSize);
        }
        if (windows * window > RingOptions.MAX_TOTAL_BYTES) {
            throw FlagValue.usage("--ring-windows x --ring-window-size: the staging ring may pin at most "
                    + Sizes.human(RingOptions.MAX_TOTAL_BYTES) + " of host memory");
        }
        return new RingOptions(windows, window, how);
    }

    @Override
    public void check() {
        cudaOrdinal();
        ring();
    }
}
