package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.plan.Sizes;
import java.util.Locale;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Where {@code load} puts the tensors, and the staging ring's shape for a GPU. Plain data: parsing these never
 * touches the CUDA module's JCuda classes, so host loads never load them.
 */
final class DeviceFlags {
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
}
