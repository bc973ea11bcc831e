package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.Convert;
import io.stload.format.Tensor;
import io.stload.format.TensorInfo;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code stload get PATH NAME [--slice RANGES] [--as f32] [--count N]}: one tensor, or a slice of it, read
 * lazily (headers, then only the bytes shown or sliced): its dtype, shape and first values.
 */
@Command(name = "get", description = "Show one tensor (or a slice of it): dtype, shape and its first values.")
final class GetCommand extends CheckpointCommand {
    @Parameters(index = "1", paramLabel = "NAME", description = "The tensor's name.")
    String name;

    @Option(names = "--slice", paramLabel = "RANGES",
            description = "Python-like ranges per dimension, e.g. \"0:4,:\" or \"-1,2:8\" (an index drops its dimension).")
    String slice;

    @Option(names = "--as", paramLabel = "TYPE",
            description = "Convert the values: f32 (from F32, BF16, F16, F8_E4M3, F8_E5M2 and the integer types).")
    String as;

    @Option(names = "--count", paramLabel = "N", defaultValue = "8",
            description = "How many values to print (default: ${DEFAULT-VALUE}).")
    int count;

    @Override
    int run() {
        if (as != null && !as.equalsIgnoreCase("f32")) {
            throw new StloadException(ErrorKind.Usage, null, "--as: `" + as + "` is not a type it converts to; f32 is");
        }
        if (count < 0) {
            throw new StloadException(ErrorKind.Usage, null, "--count must be at least 0, not " + count);
        }
        PrintWriter out = out();
        try (Checkpoint ckpt = open(); Arena arena = Arena.ofConfined()) {
            TensorInfo info = ckpt.info(name);
            if (as != null && !Convert.decodesToF32(info.dtype())) {
                throw new StloadException(ErrorKind.Unsupported, null, name + " is " + info.dtypeName()
                        + ", which does not convert to F32 (F32, BF16, F16, F8_E4M3, F8_E5M2 and the integer types"
                        + " do)");
            }
            Tensor t = slice == null ? ckpt.viewTensor(name) : ckpt.slice(name, slice, arena);
            out.printf("%s: %s%s%s%s%n", name, info.dtypeName(), t.info().shapeString(),
                    slice == null ? "" : " = " + info.shapeString() + "[" + slice + "]", as == null ? "" : ", as F32");
            long elements = t.info().elementCount();
            List<String> values = values(t, as != null, (int) Math.min(count, elements));
            String what = values == null ? "bytes" : "values";
            if (values == null) {
                elements = t.byteSize();
                values = bytes(t, (int) Math.min(count, elements));
            }
            out.printf("first %d of %d %s: %s%n", values.size(), elements, what, String.join(", ", values));
        }
        return 0;
    }

    /**
     * The first {@code n} elements as text, or null for a type shown as raw bytes. Read through the tensor's typed
     * accessors, which turn a file truncated under a lazy view into one Io error naming it.
     */
    private static List<String> values(Tensor t, boolean asF32, int n) {
        List<String> out = new ArrayList<>();
        if (asF32) {
            for (long i = 0; i < n; i++) {
                out.add(Float.toString(t.getFloat(i)));
            }
            return out;
        }
        for (long i = 0; i < n; i++) {
            String v = value(t, i);
            if (v == null) {
                return null;
            }
            out.add(v);
        }
        return out;
    }

    private static String value(Tensor t, long i) {
        return switch (t.dtype()) {
            case F32, F16, BF16, F8_E4M3, F8_E5M2 -> Float.toString(t.getFloat(i));
            case F64 -> Double.toString(t.getDouble(i));
            case BOOL -> Boolean.toString(t.getByte(i) != 0);
            case I8 -> Byte.toString(t.getByte(i));
            case U8 -> Integer.toString(t.getByte(i) & 0xff);
            case I16 -> Short.toString(t.getShort(i));
            case U16 -> Integer.toString(t.getShort(i) & 0xffff);
            case I32 -> Integer.toString(t.getInt(i));
            case U32 -> Integer.toUnsignedString(t.getInt(i));
            case I64 -> Long.toString(t.getLong(i));
            case U64 -> Long.toUnsignedString(t.getLong(i));
            default -> null;
        };
    }

    /** The first {@code n} bytes as hex, copied out through the tensor's guarded copy. */
    private static List<String> bytes(Tensor t, int n) {
        byte[] head = new byte[n];
        t.copyTo(0, MemorySegment.ofArray(head));
        List<String> out = new ArrayList<>();
        HexFormat hex = HexFormat.of();
        for (byte b : head) {
            out.add(hex.toHexDigits(b));
        }
        return out;
    }
}
