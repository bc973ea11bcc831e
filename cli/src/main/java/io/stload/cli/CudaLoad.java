package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.cuda.CudaCopyEngine;
import io.stload.cuda.DeviceLoader;
import io.stload.cuda.DeviceReport;
import io.stload.cuda.DeviceTensor;
import io.stload.cuda.DeviceWeights;
import io.stload.cuda.RingOptions;
import io.stload.load.Digests;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.plan.Sizes;
import io.stload.report.LoadReport;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import tools.jackson.core.JsonGenerator;

/**
 * {@code load --device cuda[:N]}: the one place the CLI reaches into the CUDA module, so that a host load never
 * loads a JCuda class. The device is opened before planning: without a usable GPU the command fails at once.
 */
final class CudaLoad {
    private CudaLoad() {
    }

    /** The GPU is opened first, so a machine without one fails at once, before any checkpoint is read. */
    static int run(Supplier<Checkpoint> checkpoint, Function<Checkpoint, LoadOptions> options, DeviceFlags d,
                   boolean digest, boolean json, PrintWriter out) {
        RingOptions ring = d.ring();
        try (CudaCopyEngine gpu = CudaCopyEngine.open(d.cudaOrdinal(), ring.pinning())) {
            try (DeviceLoader loader = new DeviceLoader(gpu, ring)) {
                // The staging ring is a device load's only host memory.
                Checkpoint c = checkpoint.get();
                LoadPlan plan = new Planner().plan(c, options.apply(c), loader.profile());
                return load(loader, plan, ring, digest, json, out);
            }
        }
    }

    private static int load(DeviceLoader loader, LoadPlan plan, RingOptions ring, boolean digest, boolean json,
                            PrintWriter out) {
        try (DeviceWeights weights = loader.execute(plan)) {
            Map<String, String> digests = digest ? digests(weights) : Map.of();
            DeviceReport r = weights.report();
            if (json) {
                Json.print(out, g -> LoadCommand.writeJson(r.load(), plan.checkpoint().commit(), digests, g, false,
                        gen -> writeDevice(r, ring, gen)));
            } else {
                print(plan, r, ring, digests, out);
            }
        }
        return 0;
    }

    /** Copies every tensor (this rank's slice) back to host memory and digests it, to compare with the host's. */
    private static Map<String, String> digests(DeviceWeights weights) {
        long largest = weights.tensors().values().stream().mapToLong(DeviceTensor::byteSize).max().orElse(0);
        Map<String, String> out = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(Math.max(1, largest), 4096);
            for (DeviceTensor t : weights.tensors().values()) {
                weights.copyToHost(t, host);
                out.put(t.name(), Digests.crc32(host.asSlice(0, t.byteSize())));
            }
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, "copying tensors back for digests: " + e.getMessage(), e);
        }
        return out;
    }

    private static void print(LoadPlan plan, DeviceReport r, RingOptions ring, Map<String, String> digests,
                              PrintWriter out) {
        LoadReport l = r.load();
        String rank = l.worldSize() > 1 ? " (rank " + l.rank() + " of " + l.worldSize() + ")" : "";
        out.printf(Locale.ROOT, "loaded %d tensors%s, %s in %.3f s into %s: %.2f GB/s; read %s from disk%n",
                l.tensors(), rank, Sizes.human(l.bytes()), l.seconds(), r.device(), l.gbps(),
                Sizes.human(l.bytesRead()));
        LoadCommand.printFilesAndPhases(plan, l, "io/copy/wait/stage-wait in thread-seconds, h2d in device seconds", out);
        out.printf(Locale.ROOT, "overlap %.2f: %d reader threads, h2d at %.2f GB/s while copying, stream %.3f s; "
                        + "ring %d x %s, pinned by %s%n", r.overlap(), r.readThreads(), r.h2dGbps(), r.streamSeconds(),
                ring.windows(), Sizes.human(ring.windowBytes()), ring.pinning().name().toLowerCase(Locale.ROOT));
        digests.forEach((name, crc) -> out.println(crc + "  " + name));
    }

    private static void writeDevice(DeviceReport r, RingOptions ring, JsonGenerator g) {
        g.writeStringProperty("device", r.device());
        g.writeNumberProperty("h2d_seconds", r.h2dSeconds());
        g.writeNumberProperty("h2d_gbps", r.h2dGbps());
        g.writeNumberProperty("stream_seconds", r.streamSeconds());
        g.writeNumberProperty("overlap", r.overlap());
        g.writeObjectPropertyStart("ring");
        g.writeNumberProperty("windows", ring.windows());
        g.writeNumberProperty("window_bytes", ring.windowBytes());
        g.writeStringProperty("pinning", ring.pinning().name().toLowerCase(Locale.ROOT));
        g.writeEndObject();
    }
}
