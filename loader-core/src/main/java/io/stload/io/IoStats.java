package io.stload.io;

import java.util.concurrent.atomic.LongAdder;

/** Thread-seconds spent per phase of a load, summed over threads, and the bytes the readers moved. */
public final class IoStats {
    /** In read(2)/pread, madvise populate, or page-touching: getting bytes off the disk. */
    public final LongAdder ioNanos = new LongAdder();
    /** Copying bytes from a mapping into the destination (includes page faults of lazy mmap). */
    public final LongAdder copyNanos = new LongAdder();
    /** Consumers blocked until background I/O covered their tensor. */
    public final LongAdder waitNanos = new LongAdder();
    /** Bytes read from files by the readers (for direct: whole aligned blocks). */
    public final LongAdder bytesRead = new LongAdder();
    /** Bytes of bounce buffers the direct reads allocated: held until the load ends. */
    public final LongAdder readBufferBytes = new LongAdder();
}
