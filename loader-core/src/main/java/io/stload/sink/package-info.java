/**
 * Destinations, where the engine's bytes land: the caller's own buffers ({@link io.stload.sink.CallerBuffers}) or a
 * streaming consumer that keeps nothing ({@link io.stload.sink.StreamingSink}); host memory the result owns is the
 * default, chosen when no destination is given. After the engine in the flow, before {@code load}; the CUDA
 * destination lives in {@code io.stload.cuda}.
 */
package io.stload.sink;
