package io.stload.cli;

import io.stload.Printable;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadPlan;
import io.stload.plan.Sizes;
import io.stload.report.LoadReport;
import io.stload.sink.StreamingSink;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.core.JsonGenerator;

/** {@code stload load PATH ...}: materialize every tensor in host (or, with --device cuda, GPU) memory and report how it went. */
@Command(name = "load", description = "Load every tensor into host or GPU memory and report strategy, speed and latency.")
final class LoadCommand extends PlanningCommand {
    @Mixin
    DeviceFlags device;

    @Option(names = "--digest", description = "Add the CRC-32 of every tensor's bytes (this rank's slice, row-major: "
            + "fused parts concatenated, pad rows included).")
    boolean digest;

    @Override
    int run() {
        refuseBudgetUnlessStreamed();
        boolean streamed = sinkFlags.streamed();
        Map<String, String> computed = new ConcurrentHashMap<>();
        StreamingSink sink = sinkFlags.stream((slice, bytes) -> {
            if (digest) {
                computed.put(slice.name(), Digests.crc32(bytes));
            }
        });
        RankFolder ranked = ranked();
        if (device.cudaOrdinal() >= 0) {
            // A device load streams through its staging ring whatever the sink: --sink stream, bounding host memory,
            // holds there too.
            return CudaLoad.run(() -> ranked.open(path, source, err()), ranked::options, device,
                    digest, json.on, out());
        }
        LoadPlan plan = plan(ranked, streamed ? sink.profile() : DestinationProfile.HOST);
        PrintWriter out = out();
        if (streamed) {
            return stream(plan, sink, computed, out);
        }
        try (LoadedWeights weights = Progress.load(plan, !json.on)) {
            Map<String, String> digests = digest ? digests(weights) : Map.of();
            if (json.on) {
                Json.print(out, g -> writeJson(weights.report(), plan.checkpoint().commit(), digests, g, true, extra -> {
                }));
            } else {
                print(plan, weights.report(), digests, out);
            }
        }
        return 0;
    }

    /** Each tensor goes to a consumer that hashes it (with --digest) and drops it: memory stays within the budget. */
    private int stream(LoadPlan plan, StreamingSink sink, Map<String, String> computed, PrintWriter out) {
        LoadReport report;
        try (Progress progress = Progress.forLoad(plan.bytes(), !json.on)) {
            report = new Loader().execute(plan, sink, progress);
        }
        Map<String, String> digests = new LinkedHashMap<>();
        plan.slices().keySet().stream().filter(computed::containsKey).forEach(n -> digests.put(n, computed.get(n)));
        if (json.on) {
            Json.print(out, g -> writeJson(report, plan.checkpoint().commit(), digests, g, true, extra -> {
                extra.writeStringProperty("sink", "stream");
                extra.writeNumberProperty("memory_budget", sink.budgetBytes());
                extra.writeNumberProperty("peak_held_bytes", sink.peakHeldBytes());
            }));
        } else {
            print(plan, report, digests, out);
        }
        return 0;
    }

    private static Map<String, String> digests(LoadedWeights weights) {
        Map<String, String> out = new LinkedHashMap<>();
        // Computed in parallel, then kept in checkpoint order.
        Map<String, String> computed = weights.tensors().values().parallelStream()
                .collect(java.util.stream.Collectors.toConcurrentMap(Tensor::name, t -> Digests.crc32(t.data())));
        weights.tensors().keySet().forEach(n -> out.put(n, computed.get(n)));
        return out;
    }

    private static void print(LoadPlan plan, LoadReport r, Map<String, String> digests, PrintWriter out) {
        String rank = r.worldSize() > 1 ? " (rank " + r.rank() + " of " + r.worldSize() + ")" : "";
        out.printf(Locale.ROOT, "loaded %d tensors%s, %s in %.3f s: %.2f GB/s; read %s from disk%s%n", r.tensors(), rank,
                Sizes.human(r.bytes()), r.seconds(), r.gbps(), Sizes.human(r.bytesRead()), kernelRead(r));
        printFilesAndPhases(plan, r, "io/copy/wait in thread-seconds", out);
        out.printf("per-tensor latency: p50 %d us, p99 %d us, max %d us%n", r.latency().p50(), r.latency().p99(),
                r.latency().max());
        digests.forEach((name, crc) -> out.println(crc + "  " + Printable.escape(name)));
    }

    /** The kernel's count beside the loader's, where the kernel keeps one. */
    static String kernelRead(LoadReport r) {
        return r.kernelBytesRead() < 0 ? "" : " (the kernel read " + Sizes.human(r.kernelBytesRead()) + " from storage)";
    }

    /** Per file the strategy, its reasons and any note; then the phases, explained by {@code phaseUnits}. */
    static void printFilesAndPhases(LoadPlan plan, LoadReport r, String phaseUnits, PrintWriter out) {
        for (int i = 0; i < r.files().size(); i++) {
            LoadReport.FileReport f = r.files().get(i);
            String file = Printable.escape(InspectCommand.displayName(plan.checkpoint(), plan.files().get(i).file()));
            out.printf("  %s: %s (%s)%s%n", file,
                    f.strategy().flagValue(), String.join(", ", f.reasons()), f.note() == null ? "" : "; " + f.note());
        }
        StringBuilder phases = new StringBuilder();
        r.phases().forEach((k, v) -> phases.append(String.format(Locale.ROOT, " %s %.3f s", k.jsonName(), v)));
        out.println("phases (" + phaseUnits + "):" + phases);
        if (r.cpu().totalSeconds() >= 0) {
            out.printf(Locale.ROOT, "cpu: user %.3f s, system %.3f s: %.2f GB per cpu-second%n", r.cpu().userSeconds(),
                    r.cpu().systemSeconds(), r.cpu().gbPerCpuSecond(r.bytes()));
        }
    }

    /** The report as one JSON object; {@code more} adds properties (a device load's phases and overlap). */
    static void writeJson(LoadReport r, String commit, Map<String, String> digests, JsonGenerator g, boolean latency,
                          Consumer<JsonGenerator> more) {
        g.writeStartObject();
        if (commit != null) {
            g.writeStringProperty("commit", commit);
        }
        g.writeObjectPropertyStart("strategy");
        r.files().forEach(f -> g.writeStringProperty(f.location(), f.strategy().flagValue()));
        g.writeEndObject();
        g.writeObjectPropertyStart("rule");
        r.files().forEach(f -> g.writeStringProperty(f.location(), f.rule().jsonName()));
        g.writeEndObject();
        g.writeObjectPropertyStart("reasons");
        for (LoadReport.FileReport f : r.files()) {
            g.writeArrayPropertyStart(f.location());
            f.reasons().forEach(g::writeString);
            g.writeEndArray();
        }
        g.writeEndObject();
        g.writeObjectPropertyStart("notes");
        r.files().stream().filter(f -> f.note() != null).forEach(f -> g.writeStringProperty(f.location(), f.note()));
        g.writeEndObject();
        g.writeNumberProperty("rank", r.rank());
        g.writeNumberProperty("world_size", r.worldSize());
        g.writeNumberProperty("tensors", r.tensors());
        g.writeNumberProperty("bytes", r.bytes());
        g.writeNumberProperty("bytes_read", r.bytesRead());
        if (r.kernelBytesRead() < 0) {
            g.writeNullProperty("kernel_bytes_read");
        } else {
            g.writeNumberProperty("kernel_bytes_read", r.kernelBytesRead());
        }
        g.writeNumberProperty("seconds", r.seconds());
        g.writeNumberProperty("gbps", r.gbps());
        g.writeObjectPropertyStart("phases");
        r.phases().forEach((phase, seconds) -> g.writeNumberProperty(phase.jsonName(), seconds));
        g.writeEndObject();
        if (r.cpu().totalSeconds() >= 0) {
            g.writeObjectPropertyStart("cpu_seconds");
            g.writeNumberProperty("user", r.cpu().userSeconds());
            g.writeNumberProperty("system", r.cpu().systemSeconds());
            g.writeEndObject();
            g.writeNumberProperty("gb_per_cpu_second", r.cpu().gbPerCpuSecond(r.bytes()));
        } else {
            g.writeNullProperty("cpu_seconds");
            g.writeNullProperty("gb_per_cpu_second");
        }
        if (latency) {
            g.writeObjectPropertyStart("latency_us");
            g.writeNumberProperty("p50", r.latency().p50());
            g.writeNumberProperty("p99", r.latency().p99());
            g.writeNumberProperty("max", r.latency().max());
            g.writeEndObject();
        }
        more.accept(g);
        if (!digests.isEmpty()) {
            g.writeObjectPropertyStart("digests");
            digests.forEach(g::writeStringProperty);
            g.writeEndObject();
        }
        g.writeEndObject();
    }
}
