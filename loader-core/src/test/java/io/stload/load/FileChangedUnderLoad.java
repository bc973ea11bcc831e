package io.stload.load;

import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.LoadStrategy;
import io.stload.plan.Planner;
import io.stload.plan.ReadOrder;
import io.stload.plan.Thresholds;
import io.stload.report.LoadListener;
import io.stload.sink.CallerBuffers;
import io.stload.sink.StreamingSink;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.zip.CRC32;

/**
 * Run in its own JVM by {@link FileChangedUnderLoadTest}, since a fault it guards against kills the JVM: for every
 * change (the file truncated in place, or replaced by another under its name) x strategy x destination, writes a
 * one-file checkpoint, starts a load, changes the file once the first tensor is in, and prints one line of how the
 * load ended. The streaming consumer changes the file itself, then hashes the bytes it was given with the CRC-32
 * intrinsic, which the JVM cannot recover from if it reads a lost page of a mapping: a consumer handed a view of the
 * file's mapping kills the JVM here.
 */
public final class FileChangedUnderLoad {
    enum Change { TRUNCATE, REPLACE }

    enum Into { HOST, CALLER, STREAM, LAZY }

    private static final int TENSORS = 32;
    private static final int TENSOR_BYTES = 128 << 10;
    /** Windows and read-ahead far below the file, so reads go on after the change. */
    private static final Thresholds SMALL = new Thresholds(0.8, 0, 1.25, LoadStrategy.DIRECT, 64 << 10, 128 << 10,
            64 << 10, 0);

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        for (Change change : Change.values()) {
            for (LoadStrategy strategy : List.of(LoadStrategy.MMAP, LoadStrategy.PREFETCH, LoadStrategy.DIRECT)) {
                for (Into into : Into.values()) {
                    if (into == Into.LAZY && strategy != LoadStrategy.MMAP) {
                        continue; // lazy reads have one way of reading: the mapping
                    }
                    Path file = Files.createDirectories(dir.resolve(change + "-" + strategy + "-" + into))
                            .resolve("model.safetensors");
                    write(file, 1);
                    System.out.println(change + " " + strategy + " " + into + " " + outcome(file, change, strategy, into));
                }
            }
        }
        System.out.println("alive");
    }

    private static String outcome(Path file, Change change, LoadStrategy strategy, Into into) {
        AtomicBoolean changed = new AtomicBoolean();
        Runnable once = () -> {
            if (changed.compareAndSet(false, true)) {
                apply(change, file);
            }
        };
        try (Checkpoint ckpt = Checkpoint.open(file)) {
            if (into == Into.LAZY) {
                for (String name : ckpt.tensors().keySet()) {
                    crc(ckpt.copy(name).data().asByteBuffer());
                    once.run();
                }
                return "ok";
            }
            LoadPlan plan = new Planner().plan(ckpt, new LoadOptions(strategy, ReadOrder.FILE, 1, 1, SMALL));
            LoadListener afterFirst = (t, bytes) -> once.run();
            switch (into) {
                case HOST -> new Loader().execute(plan, afterFirst).close();
                case CALLER -> {
                    try (Arena arena = Arena.ofShared()) {
                        new Loader().execute(plan, new CallerBuffers(s -> arena.allocate(s.byteSize(), 4096)),
                                afterFirst);
                    }
                }
                case STREAM -> new Loader().execute(plan, new StreamingSink((s, bytes) -> {
                    once.run(); // the file changes under the consumer, which then hashes what it was given
                    crc(bytes.asByteBuffer());
                }, 1 << 20), LoadListener.NONE);
                default -> throw new IllegalStateException();
            }
            return "ok";
        } catch (StloadException e) {
            return e.kind() + " " + (file.equals(e.file()) ? "names-file " : "no-file ") + e.detail();
        }
    }

    private static long crc(java.nio.ByteBuffer bytes) {
        CRC32 crc = new CRC32();
        crc.update(bytes);
        return crc.getValue();
    }

    private static void apply(Change change, Path file) {
        try {
            if (change == Change.TRUNCATE) {
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                    ch.truncate(0);
                }
            } else {
                Path next = file.resolveSibling("next.safetensors");
                write(next, 2);
                Files.move(next, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Path file, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        List<TensorData> tensors = new ArrayList<>();
        for (int i = 0; i < TENSORS; i++) {
            byte[] data = new byte[TENSOR_BYTES];
            random.nextBytes(data);
            tensors.add(new TensorData("t" + i, DType.U8, new long[] {TENSOR_BYTES}, data));
        }
        SafetensorsWriter.write(file, Map.of(), tensors);
    }
}
