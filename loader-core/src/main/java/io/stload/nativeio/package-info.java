/**
 * libc through the FFM API (the only package that calls {@code Linker}), behind small Java methods with a
 * pure-Java fallback: open with O_DIRECT, pread, madvise, mincore, statfs, flock; and the one place a checkpoint
 * file is mapped ({@link io.stload.nativeio.MappedFile}). At the bottom, with the exception family. Internal: not
 * exported by the module.
 */
package io.stload.nativeio;
