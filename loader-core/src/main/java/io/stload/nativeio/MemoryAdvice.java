package io.stload.nativeio;

/** madvise(2) advice values used by the loader. */
public enum MemoryAdvice {
    NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED,
    /** Linux 5.14+: fault the range in now (read), without the consumer touching each page. */
    POPULATE_READ,
    /** Back the range with transparent huge pages where THP is in {@code madvise} mode. */
    HUGEPAGE
}
