package io.stload.cli;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.Header;
import io.stload.plan.Sizes;
import java.io.PrintWriter;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code stload inspect PATH [--json]}: the tensor table of a file or checkpoint directory. */
@Command(name = "inspect", description = "Validate a .safetensors file or checkpoint directory and list its tensors.")
final class InspectCommand extends CheckpointCommand {
    @Mixin
    JsonFlag json;

    @Override
    int run() {
        Checkpoint ckpt = open();
        if (json.on) {
            printJson(ckpt, out());
        } else {
            printTable(ckpt, out());
        }
        return 0;
    }

    private static void printTable(Checkpoint ckpt, PrintWriter out) {
        new Table<TensorRef>(new String[] {"name", "dtype", "shape", "bytes", "file"},
                TensorRef::name, t -> t.info().dtypeName(), t -> t.info().shapeString(),
                t -> Sizes.human(t.info().byteSize()), t -> displayName(ckpt, t.file()))
                .print(ckpt.tensors().values(), out);
        out.printf("%d tensors, %s in %d file(s)%n", ckpt.tensors().size(), Sizes.human(ckpt.totalBytes()),
                ckpt.files().size());
    }

    private static void printJson(Checkpoint ckpt, PrintWriter out) {
        Json.print(out, g -> {
            g.writeStartObject();
            g.writeArrayPropertyStart("files");
            for (Header h : ckpt.files()) {
                g.writeStartObject();
                g.writeStringProperty("path", displayName(ckpt, h));
                g.writeNumberProperty("header_bytes", h.headerLength());
                g.writeNumberProperty("data_start", h.dataStart());
                g.writeNumberProperty("bytes", h.fileSize());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeObjectPropertyStart("metadata");
            for (Header h : ckpt.files()) {
                g.writeName(displayName(ckpt, h));
                if (!h.hasMetadata()) {
                    g.writeNull();
                } else {
                    g.writeStartObject();
                    for (Map.Entry<String, String> m : h.metadata().entrySet()) {
                        g.writeStringProperty(m.getKey(), m.getValue());
                    }
                    g.writeEndObject();
                }
            }
            g.writeEndObject();
            g.writeArrayPropertyStart("tensors");
            for (TensorRef t : ckpt.tensors().values()) {
                g.writeStartObject();
                g.writeStringProperty("name", t.name());
                g.writeStringProperty("dtype", t.info().dtypeName());
                g.writeName("shape");
                g.writeStartArray();
                for (long d : t.info().shape().toArray()) {
                    g.writeNumber(Units.unsigned(d));
                }
                g.writeEndArray();
                g.writeStringProperty("file", displayName(ckpt, t.file()));
                g.writeName("data_offsets");
                g.writeStartArray();
                g.writeNumber(t.info().begin());
                g.writeNumber(t.info().end());
                g.writeEndArray();
                g.writeNumberProperty("bytes", t.info().byteSize());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeNumberProperty("total_bytes", ckpt.totalBytes());
            if (ckpt.commit() != null) {
                g.writeStringProperty("commit", ckpt.commit());
            }
            g.writeEndObject();
        });
    }

    /** A file as the user named it: relative to a checkpoint directory, else the path given. */
    static String displayName(Checkpoint ckpt, Header h) {
        return ckpt.nameOf(h);
    }
}
