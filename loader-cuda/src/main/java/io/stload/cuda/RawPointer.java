package io.stload.cuda;

import jcuda.Pointer;

/**
 * A JCuda {@link Pointer} over a raw address, and the raw address of a pointer JCuda filled in. JCuda keeps the
 * address in {@code NativePointerObject.nativePointer} (plus {@code Pointer.byteOffset}); both are reachable only
 * from a subclass, through the protected {@code Pointer(long)} and {@code Pointer(Pointer)} constructors and
 * {@code getNativePointer()}/{@code getByteOffset()}. This is how pinned host memory from cudaHostAlloc becomes
 * an FFM {@code MemorySegment} ({@code MemorySegment.ofAddress(address).reinterpret(bytes)}) and how FFM memory
 * and device addresses become copy arguments, with no JNI of our own.
 */
final class RawPointer extends Pointer {
    private RawPointer(long address) {
        super(address);
    }

    private RawPointer(Pointer p) {
        super(p);
    }

    static Pointer to(long address) {
        return new RawPointer(address);
    }

    static long addressOf(Pointer p) {
        RawPointer copy = new RawPointer(p);
        return copy.getNativePointer() + copy.getByteOffset();
    }
}
