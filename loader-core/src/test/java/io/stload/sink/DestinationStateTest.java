package io.stload.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.Header;
import io.stload.format.SafetensorsWriter;
import io.stload.plan.LoadOptions;
import io.stload.plan.LoadPlan;
import io.stload.plan.Planner;
import io.stload.plan.TensorSlice;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The loader's destinations called out of turn by a caller (before {@code begin}, or for a file of another load): a
 * Usage error saying so, not a NullPointerException from inside.
 */
class DestinationStateTest {
    @TempDir
    Path dir;

    @Test
    void callsBeforeBeginOrForAnotherLoadsFileAreUsageErrors() throws IOException {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                new SafetensorsWriter.TensorData("w", DType.F32, new long[] {2, 2}, new byte[16])));
        try (Checkpoint checkpoint = Checkpoint.open(file); Arena arena = Arena.ofConfined();
             HostSink host = new HostSink()) {
            LoadPlan plan = new Planner().plan(checkpoint, LoadOptions.DEFAULTS);
            Header header = plan.files().getFirst().file();
            TensorSlice slice = plan.slice("w");
            CallerBuffers callers = new CallerBuffers(s -> arena.allocate(s.byteSize()));
            StreamingSink streaming = new StreamingSink((s, bytes) -> { }, 1 << 20);
            List<Supplier<?>> outOfTurn = List.of(host::tensors, () -> host.sliceBuffer(slice),
                    () -> callers.readBuffer(header, 0, 16), () -> streaming.readBuffer(header, 0, 16));
            for (Supplier<?> call : outOfTurn) {
                assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, call::get).kind());
            }
            host.begin(plan);
            assertEquals(List.of("w"), List.copyOf(host.tensors().keySet()));
        }
    }
}
