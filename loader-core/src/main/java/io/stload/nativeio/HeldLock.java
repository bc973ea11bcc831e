package io.stload.nativeio;

import java.io.IOException;

/**
 * An advisory lock taken by {@link NativeAccess#tryLock} or {@link NativeAccess#tryLockFolder}; closing it releases
 * the lock.
 */
@FunctionalInterface
public interface HeldLock extends AutoCloseable {
    @Override
    void close() throws IOException;
}
