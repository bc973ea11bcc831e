package io.stload.checkpoint;

import io.stload.StloadException;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.load.Digests;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Run in its own JVM by {@link TypedViewTruncationTest}: takes lazy views of tensors (mapping their file) as
 * {@link Tensor}s, truncates the file, then reads them through every typed accessor, printing how each read ended. A
 * JVM killed by SIGBUS prints nothing after "mapped"; an accessor that lets the JVM's own error through prints its class.
 */
public final class TruncatedViewProbe {
    /** Where a read's int goes widened to a long: a load the JIT may fuse with the widening must still be guarded. */
    static long widened;

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        SafetensorsWriter.write(file, Map.of(), List.of(
                new TensorData("bf16", DType.BF16, new long[] {256, 2048}, new byte[1 << 20]),
                new TensorData("f16", DType.F16, new long[] {256, 2048}, new byte[1 << 20]),
                new TensorData("e4m3", DType.F8_E4M3, new long[] {1 << 20}, new byte[1 << 20]),
                new TensorData("e5m2", DType.F8_E5M2, new long[] {1 << 20}, new byte[1 << 20]),
                new TensorData("i32", DType.I32, new long[] {256, 1024}, new byte[1 << 20]),
                new TensorData("u8", DType.U8, new long[] {1 << 20}, new byte[1 << 20]),
                new TensorData("i16", DType.I16, new long[] {1 << 19}, new byte[1 << 20]),
                new TensorData("i64", DType.I64, new long[] {1 << 17}, new byte[1 << 20]),
                new TensorData("f64", DType.F64, new long[] {1 << 17}, new byte[1 << 20])));
        try (Checkpoint ckpt = Checkpoint.open(file)) {
            Tensor bf16 = ckpt.viewTensor("bf16");
            Tensor f16 = ckpt.viewTensor("f16");
            Tensor e4m3 = ckpt.viewTensor("e4m3");
            Tensor e5m2 = ckpt.viewTensor("e5m2");
            Tensor i32 = ckpt.viewTensor("i32");
            Tensor u8 = ckpt.viewTensor("u8");
            Tensor i16 = ckpt.viewTensor("i16");
            Tensor i64 = ckpt.viewTensor("i64");
            Tensor f64 = ckpt.viewTensor("f64");
            MemorySegment rawView = ckpt.view("u8");
            System.out.println("mapped");
            // Each element read runs many times before and after the truncation, at pages all over the tensor, so that
            // the JIT has compiled it when the file is cut (a compiled read's fault is the one the JVM reports late).
            long[] at = {0};
            Map<String, Runnable> elements = new LinkedHashMap<>();
            elements.put("getFloat", () -> bf16.getFloat(at[0] * 2039 % 524_288));
            elements.put("getFloat(i, j)", () -> bf16.getFloat(at[0] * 7 % 256, at[0] % 2048));
            elements.put("getInt", () -> i32.getInt(at[0] * 1021 % 262_144));
            elements.put("getByte", () -> u8.getByte(at[0] * 4093 % 1_048_576));
            elements.put("getInt widened", () -> widened += i32.getInt(at[0] * 1021 % 262_144));
            elements.put("getShort", () -> i16.getShort(at[0] * 2039 % 524_288));
            elements.put("getLong", () -> i64.getLong(at[0] * 509 % 131_072));
            elements.put("getDouble", () -> f64.getDouble(at[0] * 509 % 131_072));
            // The decoders of these look each pattern up in a table, which a compiled read of a lost page must never index.
            elements.put("getFloat(F16)", () -> f16.getFloat(at[0] * 2039 % 524_288));
            elements.put("getFloat(F8_E4M3)", () -> e4m3.getFloat(at[0] * 4093 % 1_048_576));
            elements.put("getFloat(F8_E5M2)", () -> e5m2.getFloat(at[0] * 4093 % 1_048_576));
            for (at[0] = 0; at[0] < 50_000; at[0]++) {
                elements.values().forEach(Runnable::run);
            }
            // And the bulk decoders (BF16's on the Vector API, when the JVM has it), compiled before the cut.
            Map<String, Runnable> bulk = new LinkedHashMap<>();
            for (Tensor t : List.of(bf16, f16, e4m3)) {
                bulk.put(t.dtype() + " toFloatArray", t::toFloatArray);
            }
            for (int round = 0; round < 30; round++) {
                bulk.values().forEach(Runnable::run);
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(0);
            }
            Map<String, Runnable> reads = new LinkedHashMap<>();
            elements.forEach((name, read) -> reads.put(name, () -> {
                for (at[0] = 0; at[0] < 50_000; at[0]++) {
                    read.run();
                }
            }));
            reads.putAll(bulk);
            reads.put("row.toFloats", () -> bf16.row(250).toFloats(new float[2048], 0));
            reads.put("toFloatArray", () -> i32.toFloatArray());
            reads.put("toFloats(direct LE)", () -> bf16.toFloats(
                    ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(), 0));
            reads.put("toFloats(big-endian)", () -> bf16.toFloats(ByteBuffer.allocateDirect(4 << 20).asFloatBuffer(), 0));
            reads.put("toFloats(heap)", () -> u8.toFloats(FloatBuffer.allocate(1 << 20), 0));
            // The library's own digest of a raw view: CRC32's intrinsic, given the mapping, would crash the JVM.
            reads.put("Digests.crc32(view)", () -> Digests.crc32(rawView));
            reads.put("copyTo", () -> {
                try (Arena arena = Arena.ofConfined()) {
                    u8.copyTo(0, arena.allocate(1 << 20));
                }
            });
            for (Map.Entry<String, Runnable> r : reads.entrySet()) {
                try {
                    r.getValue().run();
                    System.out.println(r.getKey() + ": read despite truncation");
                } catch (StloadException e) {
                    System.out.println(r.getKey() + ": kind=" + e.kind() + " file=" + e.file());
                } catch (Throwable t) {
                    System.out.println(r.getKey() + ": " + t.getClass().getName());
                }
            }
        }
        System.out.println("alive");
    }
}
