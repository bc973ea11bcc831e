package io.stload.store;

import io.stload.format.Tensor;
import io.stload.plan.DestinationProfile;
import io.stload.plan.LoadPlan;
import io.stload.plan.TensorSlice;
import io.stload.report.LoadReport;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Where a {@link WeightStore} keeps its versions, and the handle readers get for a tensor ({@code T}): the store's
 * destination factory. It loads a plan into new memory (the first version, and every version a reload loads
 * <em>beside</em> the serving one), and writes new bytes over the memory a version already holds (a reload
 * <em>in place</em>, for memory that cannot be doubled). Each load runs on the one engine, through
 * {@code io.stload.load.Loader}, into a destination of the memory's own.
 *
 * <p>Given here: {@link #host()} (host memory the loader allocates, {@link Tensor}s over it) and
 * {@link #callerBuffers} (segments the caller allocates and releases). The CUDA module gives
 * {@code io.stload.cuda.DeviceStoreMemory} (device memory, loaded through a pinned staging ring).
 *
 * <p>Threads: a store calls its memory from the thread running {@link WeightStore#open} or
 * {@link WeightStore#reload}, one call at a time (reloads never overlap); {@link Buffers#close()} may come from
 * whichever thread closes the last lease of a version.
 *
 * @param <T> what a reader gets for a tensor: a host {@link Tensor}, a device tensor
 */
public interface StoreMemory<T> {

    /**
     * One load's memory: the tensors it holds, how much memory it takes, and how to let it go. The store frees it
     * once no version holds any of its tensors.
     *
     * @param <T> what a reader gets for a tensor
     */
    interface Buffers<T> extends AutoCloseable {
        /** {@return the loaded tensors (for a tensor-parallel rank, its slices) by name, in plan order} */
        Map<String, T> tensors();

        /** {@return the memory held, in bytes, as {@link StoreMemory#bytesFor} counted it} */
        long bytes();

        /** {@return what the load did} */
        LoadReport report();

        /** Frees the memory; the tensors must not be used afterwards. Called once. */
        @Override
        void close();
    }

    /**
     * New bytes for one tensor that lives in memory already, staged in host memory.
     *
     * @param <T>    what a reader gets for a tensor
     * @param target the tensor whose memory is overwritten
     * @param bytes  its new bytes, row-major, exactly its size
     */
    record Write<T>(T target, MemorySegment bytes) {
        /**
         * Checks that both are given.
         *
         * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if either is null
         */
        public Write {
            if (target == null || bytes == null) {
                throw io.stload.StloadException.usage("a write needs its target tensor and its bytes, not null");
            }
        }
    }

    /** {@return the memory in words, for messages: {@code host memory}, a device's name} */
    String describe();

    /**
     * How loads into this memory use host memory; the store plans every load with it.
     *
     * @return the profile of the destinations it loads through
     */
    DestinationProfile profile();

    /**
     * The memory a load of {@code plan} would take, from the plan alone, so that a store checks its budget before
     * loading anything.
     *
     * @param plan the plan
     * @return the bytes {@link #load} would hold for it
     */
    long bytesFor(LoadPlan plan);

    /**
     * Loads a plan's slices into new memory.
     *
     * @param plan the plan, its checkpoint open
     * @return the loaded tensors; on failure nothing stays allocated
     * @throws io.stload.StloadException with the kind of the failure
     */
    Buffers<T> load(LoadPlan plan);

    /**
     * Loads a plan's slices over memory that holds them already (a reload in place that could not stage the changed
     * bytes). Calls {@code overwriting} once, before the first byte of {@code live} memory changes, so the store knows
     * whether a failure left the old bytes whole.
     *
     * @param plan        the plan, its checkpoint open; its slices have the shapes of the live ones of the same names
     * @param live        the tensors written over, by name
     * @param overwriting run before the first byte of live memory is written
     * @return what the load did
     * @throws io.stload.StloadException with the kind of the failure
     */
    LoadReport overwrite(LoadPlan plan, Map<String, T> live, Runnable overwriting);

    /**
     * Copies staged bytes over tensors that live in this memory, and returns once every byte is there. Calls
     * {@code overwriting} once, before the first byte of live memory changes.
     *
     * @param writes      the tensors and their new bytes
     * @param overwriting run before the first byte of live memory is written
     * @throws io.stload.StloadException with the kind of the failure
     */
    void write(List<Write<T>> writes, Runnable overwriting);

    /**
     * What a lease hands readers for one of this memory's tensors: one they cannot write through, where the memory
     * allows that. Serving weights are shared by every reader, and only a reload may change them; the store keeps the
     * writable tensor for its reloads in place.
     *
     * @param tensor a tensor this memory loaded
     * @return the reader's handle; by default {@code tensor} itself
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if {@code tensor} is null
     */
    default T forReaders(T tensor) {
        return io.stload.StloadException.requireNonNull(tensor, "no tensor given for readers: null");
    }

    /**
     * Host memory the loader allocates, freed when no version holds it: {@link Tensor}s over it, as
     * {@code Loader.load} gives them.
     *
     * @return the memory
     */
    static StoreMemory<Tensor> host() {
        return new HostMemory(null, null);
    }

    /**
     * The caller's memory: for each slice a load holds, the caller gives a writable segment of at least its size
     * (from its own arena, pinned or device-visible memory), and takes it back once no version holds it.
     *
     * @param allocate asked once per slice of each load, on the thread opening or reloading the store
     * @param release  given back each segment {@code allocate} gave, once no version holds it (also when the load
     *                 that asked for it failed); from the thread that lets the version go
     * @return the memory
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Usage} if either is null
     */
    static StoreMemory<Tensor> callerBuffers(Function<TensorSlice, MemorySegment> allocate,
                                             Consumer<MemorySegment> release) {
        if (allocate == null || release == null) {
            throw io.stload.StloadException.usage("caller buffers need an allocator and a release, not null");
        }
        return new HostMemory(allocate, release);
    }
}
