package io.stload.nativeio;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/** Every call goes to the real {@link NativeFile}; a test overrides the calls it counts, fails or delays. */
public class DelegatingNativeFile implements NativeFile {
    protected final NativeFile real;

    public DelegatingNativeFile(NativeFile real) {
        this.real = real;
    }

    @Override
    public boolean isDirect() {
        return real.isDirect();
    }

    @Override
    public int directAlignment() {
        return real.directAlignment();
    }

    @Override
    public long size() throws IOException {
        return real.size();
    }

    @Override
    public long read(MemorySegment dst, long offset) throws IOException {
        return real.read(dst, offset);
    }

    @Override
    public boolean fadvise(long offset, long length, FileAdvice advice) {
        return real.fadvise(offset, length, advice);
    }

    @Override
    public boolean readahead(long offset, long length) {
        return real.readahead(offset, length);
    }

    @Override
    public void close() throws IOException {
        real.close();
    }
}
