/**
 * The engine: one pipeline that executes every plan, with its read strategies (mmap, prefetch, direct),
 * bounded memory and failure-safe shutdown. Between {@code plan} and {@code sink} in the flow.
 * Internal: not exported by the module.
 */
package io.stload.io;
