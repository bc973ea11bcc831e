package io.stload.nativeio;

/** madvise(2) advice values used by the loader, with Linux's numbers for them. */
public enum MemoryAdvice {
    NORMAL(0), RANDOM(1), SEQUENTIAL(2), WILLNEED(3), DONTNEED(4),
    /** Linux 5.14+: fault the range in now (read), without the consumer touching each page. */
    POPULATE_READ(22),
    /** Back the range with transparent huge pages where THP is in {@code madvise} mode. */
    HUGEPAGE(14);

    /** The value madvise(2) takes. */
    final int code;

    MemoryAdvice(int code) {
        this.code = code;
    }
}
