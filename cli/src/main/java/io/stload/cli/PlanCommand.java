package io.stload.cli;

import io.stload.Printable;
import io.stload.plan.ByteRange;
import io.stload.plan.DestinationProfile;
import io.stload.plan.FilePlan;
import io.stload.plan.LoadPlan;
import io.stload.plan.Partitioning;
import io.stload.plan.Sizes;
import io.stload.plan.TensorSlice;
import java.io.PrintWriter;
import java.math.BigInteger;
import picocli.CommandLine.Command;
import tools.jackson.core.JsonGenerator;

/**
 * {@code stload plan PATH [--json]}: the strategy per file, with its measured inputs and reasons, and for a
 * tensor-parallel rank the bytes every rank holds, the rules that matched and the ranges this one reads,
 * without loading.
 */
@Command(name = "plan", description = "Show the load plan (strategy per file, inputs and reasons) without loading.")
final class PlanCommand extends PlanningCommand {
    @Override
    int run() {
        refuseBudgetUnlessStreamed();
        DestinationProfile destination = sinkFlags.profile();
        LoadPlan plan = plan(ranked(), destination);
        PrintWriter out = out();
        if (json.on) {
            Json.print(out, g -> writeJson(plan, sinkFlags.sink, g));
        } else {
            print(plan, destination, out);
        }
        return 0;
    }

    /** The text output lists every rank's bytes up to this many ranks. */
    static final int RANKS_LISTED = 64;

    static void print(LoadPlan plan, DestinationProfile destination, PrintWriter out) {
        out.printf("%d tensors, %s in %d file(s); memory headroom %s (%s)%n", plan.order().size(),
                Sizes.human(plan.bytes()), plan.files().size(),
                plan.host().headroomBytes() < 0 ? "unknown" : Sizes.human(plan.host().headroomBytes()),
                plan.host().headroomSource());
        Partitioning p = plan.partitioning();
        if (p.worldSize() > 1) {
            long fileBytes = fileBytes(plan);
            long padBytes = plan.slices().values().stream().mapToLong(TensorSlice::padBytes).sum();
            out.printf("rank %d of %d (partition rules: %s), reading %s (%s of its tensors%s)%s; bytes per rank:",
                    p.rank(), p.worldSize(), Printable.escape(p.spec().name()), Sizes.human(plan.readBytes()),
                    Sizes.human(fileBytes), plan.readBytes() > fileBytes
                            ? ", " + Sizes.human(plan.readBytes() - fileBytes) + " of gaps read through (--max-gap)" : "",
                    padBytes > 0 ? ", " + Sizes.human(padBytes) + " of pad rows written as zeros" : "");
            if (p.worldSize() > RANKS_LISTED) {
                // Each other rank's bytes cost a pass over the tensors; --json lists them all.
                out.printf(" not listed for more than %d ranks (--json lists them)", RANKS_LISTED);
            }
            for (int r = 0; r < p.worldSize() && p.worldSize() <= RANKS_LISTED; r++) {
                out.printf(" %d: %s%s", r, Sizes.human(plan.bytesPerRank().get(r)), r < p.worldSize() - 1 ? "," : "");
            }
            out.println();
            for (RuleUse u : RuleUse.of(plan)) {
                out.printf("  %s: %d tensor(s), %d held by this rank; %s: %s%n", Printable.escape(String.valueOf(u.rule())),
                        u.tensors(), u.held(), Printable.escape(u.example()), u.gets());
            }
        }
        if (plan.host().nativeAccess() != null) {
            out.println("native access unavailable (" + plan.host().nativeAccess() + "): pure-Java fallbacks, slower");
        }
        for (FilePlan f : plan.files()) {
            out.printf("%s: %s%n", Printable.escape(InspectCommand.displayName(plan.checkpoint(), f.file())),
                    Printable.escape(f.decision().summary()));
        }
        long room = plan.host().anonymousRoomBytes();
        long unavoidable = destination.unavoidableBytes(plan.bytes(), plan.largestSliceBytes());
        if (room >= 0 && unavoidable > room) {
            String what = destination.holding() == DestinationProfile.Holding.RANK_BYTES
                    ? "the rank (--sink stream streams it)" : "the stream's largest slice, " + Sizes.human(unavoidable);
            out.printf("host memory cannot hold %s: its memory cgroup leaves room for %s, with no swap; the load would"
                    + " be refused%n", what, Sizes.human(room));
        }
    }

    /** Bytes of this rank's slices that come from its files: what it reads, short of gaps read through. */
    private static long fileBytes(LoadPlan plan) {
        return plan.slices().values().stream().mapToLong(TensorSlice::fileBytes).sum();
    }

    /**
     * What this rank holds of each tensor: its shape and, for a split one, the dimension and per part the indices
     * {@code [from, to)} of it and the pad rows after them.
     */
    private static void writeSlices(LoadPlan plan, JsonGenerator g) {
        g.writeObjectPropertyStart("slices");
        for (TensorSlice s : plan.slices().values()) {
            g.writeObjectPropertyStart(s.name());
            g.writeArrayPropertyStart("shape");
            for (long d : s.local().shape().toArray()) {
                writeUnsigned(g, d);
            }
            g.writeEndArray();
            if (s.isSplit()) {
                g.writeNumberProperty("dim", s.dim());
                g.writeArrayPropertyStart("parts");
                for (TensorSlice.Part part : s.parts()) {
                    g.writeStartObject();
                    g.writeName("from");
                    writeUnsigned(g, part.from());
                    g.writeName("to");
                    writeUnsigned(g, part.to());
                    g.writeNumberProperty("pad", part.pad());
                    g.writeEndObject();
                }
                g.writeEndArray();
            }
            g.writeEndObject();
        }
        g.writeEndObject();
    }

    /** Dimensions are unsigned 64-bit: a tensor of no elements may have one of 2^63 or more. */
    private static void writeUnsigned(JsonGenerator g, long v) {
        if (v >= 0) {
            g.writeNumber(v);
        } else {
            g.writeNumber(new BigInteger(Long.toUnsignedString(v)));
        }
    }

    static void writeJson(LoadPlan plan, SinkFlags.Sink sink, JsonGenerator g) {
        g.writeStartObject();
        g.writeStringProperty("sink", sink.name());
        if (plan.checkpoint().commit() != null) {
            g.writeStringProperty("commit", plan.checkpoint().commit());
        }
        g.writeNumberProperty("tensors", plan.order().size());
        g.writeNumberProperty("bytes", plan.bytes());
        g.writeNumberProperty("read_bytes", plan.readBytes());
        g.writeNumberProperty("tensor_file_bytes", fileBytes(plan));
        g.writeNumberProperty("rank", plan.partitioning().rank());
        g.writeNumberProperty("world_size", plan.partitioning().worldSize());
        g.writeStringProperty("partition", plan.partitioning().spec().name());
        g.writeArrayPropertyStart("bytes_per_rank");
        plan.bytesPerRank().forEach(g::writeNumber);
        g.writeEndArray();
        if (plan.partitioning().worldSize() > 1) {
            g.writeArrayPropertyStart("rules");
            for (RuleUse u : RuleUse.of(plan)) {
                g.writeStartObject();
                g.writeStringProperty("rule", u.rule());
                g.writeNumberProperty("tensors", u.tensors());
                g.writeNumberProperty("held", u.held());
                g.writeStringProperty("example", u.example());
                g.writeStringProperty("gets", u.gets());
                g.writeEndObject();
            }
            g.writeEndArray();
            // The rules in the rules-file syntax: `jq .partition_rules` is a file --partition takes.
            g.writeName("partition_rules");
            g.writeRawValue(plan.partitioning().spec().toJson().replace("\n", ""));
            writeSlices(plan, g);
        }
        g.writeObjectPropertyStart("host");
        g.writeNumberProperty("headroom_bytes", plan.host().headroomBytes());
        g.writeStringProperty("headroom_source", plan.host().headroomSource());
        g.writeStringProperty("native_fallback", plan.host().nativeAccess());
        g.writeNumberProperty("anonymous_room_bytes", plan.host().anonymousRoomBytes());
        g.writeEndObject();
        g.writeArrayPropertyStart("files");
        for (FilePlan f : plan.files()) {
            g.writeStartObject();
            g.writeStringProperty("path", InspectCommand.displayName(plan.checkpoint(), f.file()));
            g.writeStringProperty("strategy", f.strategy().flagValue());
            g.writeStringProperty("rule", f.rule().jsonName());
            g.writeStringProperty("filesystem", f.facts().fs().name());
            g.writeNumberProperty("bytes", f.facts().bytesToRead());
            g.writeArrayPropertyStart("reads");
            for (ByteRange r : f.reads()) {
                g.writeStartArray();
                g.writeNumber(r.from());
                g.writeNumber(r.to());
                g.writeEndArray();
            }
            g.writeEndArray();
            g.writeNumberProperty("resident", f.facts().resident());
            g.writeBooleanProperty("direct_supported", f.facts().directSupported());
            g.writeArrayPropertyStart("reasons");
            for (String r : f.decision().reasons()) {
                g.writeString(r);
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        g.writeEndArray();
        g.writeNumberProperty("plan_seconds", plan.planNanos() / 1e9);
        g.writeEndObject();
    }
}
