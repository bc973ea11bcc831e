package io.stload.nativeio;

/** posix_fadvise(2) advice values used by the loader, with Linux's numbers for them. */
public enum FileAdvice {
    NORMAL(0), RANDOM(1), SEQUENTIAL(2), WILLNEED(3), DONTNEED(4), NOREUSE(5);

    /** The value posix_fadvise(2) takes. */
    final int code;

    FileAdvice(int code) {
        this.code = code;
    }
}
