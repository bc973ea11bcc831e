package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.cuda.BandwidthProbe;
import io.stload.cuda.CudaCopyEngine;
import io.stload.plan.Sizes;
import java.io.PrintWriter;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code stload gpu-probe}: the pinned host-to-device bandwidth a device load can at best reach. */
@Command(name = "gpu-probe", description = "Measure pinned host-to-device copy bandwidth (cudaMemcpyAsync) of a GPU.")
final class GpuProbeCommand extends StloadCommand {
    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cuda",
            description = "cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--size", paramLabel = "SIZE", defaultValue = "1GiB",
            description = "Bytes per copy (default: ${DEFAULT-VALUE}).")
    String size;

    @Option(names = "--reps", paramLabel = "N", defaultValue = "5", description = "Timed copies (default: ${DEFAULT-VALUE}).")
    int reps;

    @Mixin
    PinningFlag pinning;

    @Mixin
    JsonFlag json;

    @Override
    public Integer call() throws Exception {
        int ordinal = DeviceFlags.parseDevice(device);
        long bytes = FlagValue.parse("--size", size, Sizes::parse);
        if (ordinal < 0 || bytes <= 0 || reps < 1) {
            throw new StloadException(ErrorKind.Usage, null, "gpu-probe needs --device cuda[:N], a positive --size and --reps");
        }
        BandwidthProbe.Result r;
        try (CudaCopyEngine gpu = CudaCopyEngine.open(ordinal, pinning.value())) {
            r = BandwidthProbe.run(gpu, bytes, reps);
        }
        PrintWriter out = out();
        if (json.on) {
            Json.print(out, g -> {
                g.writeStartObject();
                g.writeStringProperty("device", r.device());
                g.writeNumberProperty("bytes", r.bytes());
                g.writeNumberProperty("best_gbps", r.best());
                g.writeNumberProperty("median_gbps", r.median());
                g.writeEndObject();
            });
        } else {
            out.printf(Locale.ROOT, "pinned host-to-device on %s: best %.2f GB/s, median %.2f GB/s over %d copies of %s%n",
                    r.device(), r.best(), r.median(), reps, Sizes.human(bytes));
        }
        return 0;
    }
}
