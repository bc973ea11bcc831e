package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.plan.Sizes;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import jcuda.Pointer;
import jcuda.runtime.JCuda;
import jcuda.runtime.cudaDeviceProp;
import jcuda.runtime.cudaError;
import jcuda.runtime.cudaEvent_t;
import jcuda.runtime.cudaMemcpyKind;
import jcuda.runtime.cudaStream_t;

/**
 * The {@link CopyEngine} of one CUDA device, through JCuda's runtime API: pinned windows from cudaHostAlloc (or
 * FFM memory made page-locked with cudaHostRegister), copies with cudaMemcpyAsync (cudaMemcpy2DAsync for a
 * strided slice's runs) on one non-blocking stream (so they never wait for work on the legacy default stream),
 * and per batch a start and an end event whose elapsed time is the batch's device time. The current device is
 * per thread in CUDA, so every entry point binds it.
 *
 * <p>JCuda classes are touched only from here, and only once a device is asked for: {@link #open} turns a
 * missing native library, a missing driver, a missing device and every other CUDA failure into one
 * {@link StloadException}.
 */
public final class CudaCopyEngine implements CopyEngine {
    private final int ordinal;
    private final String name;
    private final Pinning pinning;
    private final cudaStream_t stream;
    /** Live pinned buffers by address; for registered ones, the arena that owns the memory. */
    private final Map<Long, Optional<Arena>> pinned = new ConcurrentHashMap<>();
    private boolean closed;

    private CudaCopyEngine(int ordinal, String name, Pinning pinning, cudaStream_t stream) {
        this.ordinal = ordinal;
        this.name = name;
        this.pinning = pinning;
        this.stream = stream;
    }

    /**
     * Opens a device and creates its copy stream.
     *
     * @param ordinal the device's index, as {@code cuda:N} names it
     * @param pinning how staging buffers are pinned
     * @return the engine; the caller closes it after every allocation made through it is freed
     * @throws StloadException {@link ErrorKind#NoDevice} saying why the device cannot be used (no bindings for this
     *         platform, no driver, a driver too old, no such device), or the kind of any other CUDA failure;
     *         {@link ErrorKind#Usage}, before any CUDA call, if {@code pinning} is null
     */
    public static CudaCopyEngine open(int ordinal, Pinning pinning) {
        StloadException.requireNonNull(pinning, "a copy engine pins its staging buffers as a Pinning says, not null");
        JCudaLibrary.load();
        try {
            int[] count = {0};
            int rc = JCuda.cudaGetDeviceCount(count);
            if (rc == cudaError.cudaErrorInsufficientDriver) {
                int[] driver = {0};
                JCuda.cudaDriverGetVersion(driver);
                throw new StloadException(ErrorKind.NoDevice, null, driver[0] == 0
                        ? "no NVIDIA driver found (CUDA devices need the NVIDIA kernel driver and libcuda.so)"
                        : "the NVIDIA driver (CUDA " + version(driver[0]) + ") is older than the CUDA 12.6 runtime needs");
            }
            if (rc == cudaError.cudaErrorNoDevice || (rc == cudaError.cudaSuccess && count[0] == 0)) {
                throw new StloadException(ErrorKind.NoDevice, null, "no CUDA device found (the NVIDIA driver is loaded)");
            }
            CudaErrors.check(rc, "cudaGetDeviceCount");
            if (ordinal < 0 || ordinal >= count[0]) {
                throw new StloadException(ErrorKind.NoDevice, null, "no CUDA device " + ordinal + " (this machine has "
                        + count[0] + ": cuda:0.." + (count[0] - 1) + ")");
            }
            CudaErrors.check(JCuda.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
            cudaDeviceProp prop = new cudaDeviceProp();
            CudaErrors.check(JCuda.cudaGetDeviceProperties(prop, ordinal), "cudaGetDeviceProperties");
            cudaStream_t stream = new cudaStream_t();
            CudaErrors.check(JCuda.cudaStreamCreateWithFlags(stream, JCuda.cudaStreamNonBlocking), "cudaStreamCreate");
            return new CudaCopyEngine(ordinal, "cuda:" + ordinal + " (" + prop.getName() + ")", pinning, stream);
        } catch (LinkageError e) {
            // UnsatisfiedLinkError (no native library for this platform) or a failed JCuda class initialization.
            throw new StloadException(ErrorKind.NoDevice, null, "cannot load the CUDA bindings (JCuda): "
                    + JCudaLibrary.firstLine(e), e);
        }
    }

    /** {@return empty when device 0 can be opened here; otherwise why not (for tests that need a GPU)} */
    public static Optional<String> unavailableReason() {
        try {
            open(0, Pinning.HOST_ALLOC).close();
            return Optional.empty();
        } catch (StloadException e) {
            return Optional.of(e.getMessage());
        }
    }

    private static String version(int v) {
        return v / 1000 + "." + v % 1000 / 10;
    }

    private void bind() {
        CudaErrors.check(JCuda.cudaSetDevice(ordinal), "cudaSetDevice(" + ordinal + ")");
    }

    @Override
    public String name() {
        return name;
    }

    /** {@return how this engine pins staging buffers} */
    public Pinning pinning() {
        return pinning;
    }

    /** {@return the pinned buffers allocated and not yet freed (leak checks)} */
    public int livePinnedBuffers() {
        return pinned.size();
    }

    @Override
    public MemorySegment allocateStaging(long bytes) throws IOException {
        bind();
        String what = "pinning " + Sizes.human(bytes) + " of host memory";
        if (pinning == Pinning.HOST_ALLOC) {
            Pointer p = new Pointer();
            CudaErrors.check(JCuda.cudaHostAlloc(p, bytes, JCuda.cudaHostAllocDefault), what + " (cudaHostAlloc)");
            long address = RawPointer.addressOf(p);
            pinned.put(address, Optional.empty());
            return MemorySegment.ofAddress(address).reinterpret(bytes);
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment memory = arena.allocate(bytes, 4096);
            CudaErrors.check(JCuda.cudaHostRegister(RawPointer.to(memory.address()), bytes,
                    JCuda.cudaHostRegisterDefault), what + " (cudaHostRegister)");
            pinned.put(memory.address(), Optional.of(arena));
            return memory;
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
    }

    @Override
    public void freeStaging(MemorySegment buffer) {
        StloadException.requireNonNull(buffer, "a pinned buffer to free is a segment, not null");
        Optional<Arena> owner = pinned.remove(buffer.address());
        StloadException.requireNonNull(owner, "not a pinned buffer of this engine");
        // Freeing is best effort, and happens even when binding the device fails (a sticky error): a failed free
        // means the context is already gone, and the memory with it; a registered buffer's arena is closed anyway.
        try {
            bind();
        } finally {
            if (owner.isEmpty()) {
                JCuda.cudaFreeHost(RawPointer.to(buffer.address()));
            } else {
                try {
                    JCuda.cudaHostUnregister(RawPointer.to(buffer.address()));
                } finally {
                    owner.get().close();
                }
            }
        }
    }

    @Override
    public long freeDeviceBytes() {
        bind();
        long[] free = {0};
        long[] total = {0};
        CudaErrors.check(JCuda.cudaMemGetInfo(free, total), "cudaMemGetInfo");
        return free[0];
    }

    @Override
    public long allocateDevice(long bytes) {
        bind();
        Pointer p = new Pointer();
        CudaErrors.check(JCuda.cudaMalloc(p, bytes), "allocating " + Sizes.human(bytes) + " on " + name);
        return RawPointer.addressOf(p);
    }

    @Override
    public void freeDevice(long address) {
        try {
            bind();
        } finally {
            JCuda.cudaFree(RawPointer.to(address));
        }
    }

    /**
     * Synchronized so that a batch's start event, copies and end event are adjacent on the stream: the elapsed
     * time between its events is then exactly its copies' device time, however many threads submit.
     */
    @Override
    public synchronized CopyEvent copyToDevice(List<Copy> copies) {
        // Before any CUDA call: a null found while the copies are queued would leave the batch's events behind.
        if (copies == null || copies.stream().anyMatch(Objects::isNull)) {
            throw StloadException.usage("copies to the device are a list of copies, not null");
        }
        bind();
        cudaEvent_t start = new cudaEvent_t();
        cudaEvent_t end = new cudaEvent_t();
        CudaErrors.check(JCuda.cudaEventCreate(start), "cudaEventCreate");
        // Blocking sync: a filler waiting for a window sleeps instead of spinning on a core the reads need.
        int rc = JCuda.cudaEventCreateWithFlags(end, JCuda.cudaEventBlockingSync);
        if (rc != cudaError.cudaSuccess) {
            JCuda.cudaEventDestroy(start);
            throw CudaErrors.error(rc, "cudaEventCreate");
        }
        try {
            CudaErrors.check(JCuda.cudaEventRecord(start, stream), "cudaEventRecord");
            for (Copy c : copies) {
                queue(c);
            }
            CudaErrors.check(JCuda.cudaEventRecord(end, stream), "cudaEventRecord");
        } catch (StloadException e) {
            JCuda.cudaEventDestroy(start);
            JCuda.cudaEventDestroy(end);
            throw e;
        }
        return new BatchEvent(start, end);
    }

    /**
     * One row as a plain copy; several as one 2D copy (into packed rows, or the runs of an inner dimension's fused or
     * padded split, {@code devicePitch} apart). The source
     * pitch stays under the device's pitch limit (cudaDeviceProp.memPitch, 2 GiB - 1 on current GPUs): a copy of
     * several rows lies inside one staging window, which is at most 1 GiB.
     */
    private void queue(Copy c) {
        Pointer dst = RawPointer.to(c.deviceAddress());
        Pointer src = RawPointer.to(c.source().address());
        if (c.rows() == 1) {
            CudaErrors.check(JCuda.cudaMemcpyAsync(dst, src, c.width(), cudaMemcpyKind.cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync");
        } else {
            CudaErrors.check(JCuda.cudaMemcpy2DAsync(dst, c.devicePitch(), src, c.sourcePitch(), c.width(), c.rows(),
                    cudaMemcpyKind.cudaMemcpyHostToDevice, stream), "cudaMemcpy2DAsync");
        }
    }

    /** On the load's stream, so that it is ordered before every copy; waited for, as it comes before them all. */
    @Override
    public synchronized void zeroDevice(long deviceAddress, long width, long rows, long pitch) {
        bind();
        CudaErrors.check(JCuda.cudaMemset2DAsync(RawPointer.to(deviceAddress), pitch, 0, width, rows, stream),
                "cudaMemset2DAsync");
        CudaErrors.check(JCuda.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    /** A batch's start and end events on the stream. */
    private final class BatchEvent implements CopyEvent {
        private final cudaEvent_t start;
        private final cudaEvent_t end;

        BatchEvent(cudaEvent_t start, cudaEvent_t end) {
            this.start = start;
            this.end = end;
        }

        @Override
        public boolean isDone() throws IOException {
            int rc = JCuda.cudaEventQuery(end);
            if (rc == cudaError.cudaErrorNotReady) {
                return false;
            }
            failIfError(rc);
            return true;
        }

        @Override
        public void await() throws IOException {
            bind();
            failIfError(JCuda.cudaEventSynchronize(end));
        }

        private void failIfError(int rc) throws IOException {
            if (rc != cudaError.cudaSuccess) {
                throw new IOException("host-to-device copy on " + name + " failed: " + CudaErrors.describe(rc));
            }
        }

        @Override
        public double copySeconds() {
            float[] ms = {0};
            return JCuda.cudaEventElapsedTime(ms, start, end) == cudaError.cudaSuccess ? ms[0] / 1e3 : 0;
        }

        @Override
        public void close() {
            JCuda.cudaEventDestroy(start);
            JCuda.cudaEventDestroy(end);
        }
    }

    @Override
    public void copyToHost(long deviceAddress, MemorySegment destination) {
        StloadException.requireNonNull(destination, "a device-to-host copy lands in a segment, not null");
        bind();
        // cudaMemcpy is synchronous on the legacy default stream; loads drain their own stream before returning.
        CudaErrors.check(JCuda.cudaMemcpy(RawPointer.to(destination.address()), RawPointer.to(deviceAddress),
                destination.byteSize(), cudaMemcpyKind.cudaMemcpyDeviceToHost), "device-to-host copy");
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            try {
                bind();
            } finally {
                JCuda.cudaStreamDestroy(stream);
            }
        }
    }
}
