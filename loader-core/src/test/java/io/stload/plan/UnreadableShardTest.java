package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.nativeio.DelegatingNativeAccess;
import io.stload.nativeio.NativeAccess;
import io.stload.nativeio.NativeFile;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A shard the process may not read is a permission error naming it, not a filesystem that refuses O_DIRECT. */
class UnreadableShardTest {
    @TempDir
    Path dir;

    @Test
    void aShardThatCannotBeOpenedIsAPermissionErrorNamingIt() throws IOException {
        Path shard = dir.resolve("model.safetensors");
        SafetensorsWriter.write(shard, Map.of(), List.of(new TensorData("t", DType.F32, new long[] {4}, new byte[16])));
        Checkpoint checkpoint = Checkpoint.open(dir);
        // Root reads every file whatever its mode, so the refusal is injected.
        NativeAccess denied = new DelegatingNativeAccess(NativeAccess.get()) {
            @Override
            public NativeFile open(Path path, boolean direct) throws IOException {
                throw new AccessDeniedException(path.toString(), null, "open: Permission denied (errno 13)");
            }
        };
        StloadException e = assertThrows(StloadException.class,
                () -> new Planner(denied).plan(checkpoint, LoadOptions.DEFAULTS));
        assertEquals(ErrorKind.Io, e.kind());
        assertEquals(ErrorKind.Category.IO, e.kind().category);
        assertTrue(e.getMessage().contains("permission denied"), e.getMessage());
        assertEquals(shard.toRealPath(), e.file().toRealPath());
    }
}
