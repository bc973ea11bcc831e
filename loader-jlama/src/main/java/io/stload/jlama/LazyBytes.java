package io.stload.jlama;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Bytes read lazily through the checkpoint: a local tensor, and its rows, are zero-copy views of the file's mapping
 * (pages are read as they are touched); columns are copied, reading only their runs. A tensor in object storage is
 * fetched: whole, or only the rows or runs asked for.
 *
 * @param checkpoint the checkpoint, open while the bytes are used
 * @param copies     where copies are allocated; the loader closes it
 */
record LazyBytes(Checkpoint checkpoint, Arena copies) implements TensorBytes {

    @Override
    public MemorySegment whole(TensorRef t) {
        return checkpoint.view(t.name());
    }

    @Override
    public MemorySegment rows(TensorRef t, long rowBytes, long first, long count) {
        if (checkpoint.remote() == null || t.info().dtype().bits() < 8) {
            return checkpoint.view(t.name()).asSlice(first * rowBytes, count * rowBytes);
        }
        return checkpoint.slice(t.name(), first + ":" + (first + count), copies).data().asReadOnly();
    }

    @Override
    public MemorySegment columns(TensorRef t, long rowBytes, long first, long count) {
        int bits = t.info().dtype().bits();
        if (bits < 8 || t.info().rank() != 2 || first % (bits / 8) != 0 || count % (bits / 8) != 0) {
            return Cuts.columns(whole(t), rowBytes, first, count, copies);
        }
        long from = first / (bits / 8);
        long to = from + count / (bits / 8);
        return checkpoint.slice(t.name(), ":," + from + ":" + to, copies).data().asReadOnly();
    }
}
