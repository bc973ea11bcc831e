package io.stload.nativeio;

/** posix_fadvise(2) advice values used by the loader. */
public enum FileAdvice {
    NORMAL, SEQUENTIAL, RANDOM, NOREUSE, WILLNEED, DONTNEED
}
