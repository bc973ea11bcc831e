/**
 * The engine: one pipeline that executes every plan into any destination, with its read strategies (mmap,
 * prefetch, direct, and object storage's ranged GETs), bounded memory and failure-safe shutdown. It does every copy
 * itself, so no destination sees a file's mapping. After {@code sink}; reached only through {@code load}.
 * Internal: not exported by the module.
 */
package io.stload.io;
