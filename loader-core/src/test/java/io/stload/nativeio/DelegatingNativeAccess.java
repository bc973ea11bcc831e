package io.stload.nativeio;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** Every call goes to the real {@link NativeAccess}; a test overrides the calls it makes fail or delay. */
public class DelegatingNativeAccess implements NativeAccess {
    protected final NativeAccess real;

    public DelegatingNativeAccess(NativeAccess real) {
        this.real = real;
    }

    @Override
    public boolean isNative() {
        return real.isNative();
    }

    @Override
    public String fallbackReason() {
        return real.fallbackReason();
    }

    @Override
    public int pageSize() {
        return real.pageSize();
    }

    @Override
    public boolean madvise(MemorySegment mapping, MemoryAdvice advice) throws IOException {
        return real.madvise(mapping, advice);
    }

    @Override
    public boolean populate(MemorySegment range) throws IOException {
        return real.populate(range);
    }

    @Override
    public double residentFraction(MemorySegment mapping, int maxSamplePages) {
        return real.residentFraction(mapping, maxSamplePages);
    }

    @Override
    public MemorySegment allocate(long bytes, Arena arena) throws IOException {
        return real.allocate(bytes, arena);
    }

    @Override
    public FsStat statfs(Path path) throws IOException {
        return real.statfs(path);
    }

    @Override
    public NativeFile open(Path path, boolean direct) throws IOException {
        return real.open(path, direct);
    }

    @Override
    public HeldLock tryLock(Path file, boolean exclusive) throws IOException {
        return real.tryLock(file, exclusive);
    }

    @Override
    public HeldLock tryLockFolder(Path dir) throws IOException {
        return real.tryLockFolder(dir);
    }

    @Override
    public boolean locksInteroperateWithFlock() {
        return real.locksInteroperateWithFlock();
    }
}
