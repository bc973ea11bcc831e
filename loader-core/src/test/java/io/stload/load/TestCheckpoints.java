package io.stload.load;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Small sharded checkpoints with everything that makes a reader's life hard: tensors larger than a window,
 * offsets on no particular alignment, zero-sized tensors, scalars, sub-byte types, several dtypes.
 */
public final class TestCheckpoints {
    private TestCheckpoints() {
    }

    public static Path sharded(Path dir, int shards, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (int s = 0; s < shards; s++) {
            List<TensorData> tensors = new ArrayList<>();
            tensors.add(tensor(random, "s" + s + ".big", DType.BF16, 700, 513)); // ~700 KiB, spans windows
            tensors.add(tensor(random, "s" + s + ".odd", DType.U8, 4099));
            tensors.add(tensor(random, "s" + s + ".empty", DType.F32, 0, 16));
            tensors.add(tensor(random, "s" + s + ".scalar", DType.F64));
            tensors.add(tensor(random, "s" + s + ".f4", DType.F4, 33, 2));
            for (int i = 0; i < 40; i++) {
                tensors.add(tensor(random, "s" + s + ".small." + i, DType.F32, 1 + random.nextInt(3000)));
            }
            tensors.add(tensor(random, "s" + s + ".mid", DType.I64, 3, 11_111));
            String file = String.format("model-%05d-of-%05d.safetensors", s + 1, shards);
            SafetensorsWriter.write(dir.resolve(file), Map.of("format", "pt"), tensors);
            tensors.forEach(t -> weightMap.put(t.name(), file));
        }
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        String sep = "";
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
            index.append(sep).append('"').append(e.getKey()).append("\": \"").append(e.getValue()).append('"');
            sep = ", ";
        }
        Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}"), StandardCharsets.UTF_8);
        return dir;
    }

    /** A tensor of random bytes. */
    static TensorData tensor(SplittableRandom random, String name, DType dtype, long... shape) {
        long bits = dtype.bits();
        for (long d : shape) {
            bits *= d;
        }
        byte[] data = new byte[(int) (bits / 8)];
        random.nextBytes(data);
        return new TensorData(name, dtype, shape, data);
    }
}
