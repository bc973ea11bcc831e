/**
 * libc through the FFM API (the only package that calls {@code Linker}), behind small Java methods with a
 * pure-Java fallback: open with O_DIRECT, pread, madvise, mincore, statfs, flock. Used by {@code plan} to
 * measure and by the engine to read. Internal: exported only to {@code io.stload.cuda}.
 */
package io.stload.nativeio;
