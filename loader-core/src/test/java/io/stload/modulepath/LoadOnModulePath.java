package io.stload.modulepath;

import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A program outside the library, run by {@link ModulePathTest} with the library on the module path: writes
 * a one-tensor checkpoint into the folder it is given, loads it, and prints what it saw, one fact a line.
 * Its package is one the library does not have, so the class path cannot shadow a module package.
 */
public final class LoadOnModulePath {
    private LoadOnModulePath() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]).resolve("model.safetensors");
        byte[] bytes = new byte[4096];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) (i * 31 + 7);
        }
        SafetensorsWriter.write(file, Map.of(), List.of(new TensorData("w", DType.U8, new long[] {64, 64}, bytes)));
        LoadPlan plan = new Planner().plan(Checkpoint.open(file), LoadOptions.DEFAULTS);
        System.out.println("module=" + Loader.class.getModule().getName());
        System.out.println("native=" + (plan.host().nativeAccess() == null ? "yes" : plan.host().nativeAccess()));
        try (LoadedWeights weights = Loader.load(file, LoadOptions.DEFAULTS)) {
            byte[] loaded = weights.tensor("w").data().toArray(ValueLayout.JAVA_BYTE);
            System.out.println("bytes=" + (java.util.Arrays.equals(bytes, loaded) ? "equal" : "different"));
        }
    }
}
