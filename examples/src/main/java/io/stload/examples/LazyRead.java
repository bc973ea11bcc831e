package io.stload.examples;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.SafetensorsFile;
import io.stload.format.Tensor;
import java.lang.foreign.Arena;

/** Lazy: open reads headers only; one tensor is then a view of its file's mapping, valid while the arena is open. */
final class LazyRead implements Main.Usage {
    @Override
    public String name() {
        return "lazy";
    }

    @Override
    public String run(SampleCheckpoint checkpoint) {
        Checkpoint ckpt = Checkpoint.open(checkpoint.dir());
        TensorRef norm = ckpt.tensor(SampleCheckpoint.NORM);
        try (Arena arena = Arena.ofConfined()) {
            Tensor view = SafetensorsFile.map(norm.file(), arena).tensor(norm.info());
            long values = SampleCheckpoint.check(view);
            return ckpt.tensors().size() + " tensors listed from headers, " + norm.name() + " read as a view ("
                    + values + " values checked, at file offset " + norm.fileOffset() + ")";
        }
    }
}
