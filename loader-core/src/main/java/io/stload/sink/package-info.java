/**
 * Destinations, where the engine's bytes land: owned host memory, or memory laid out like the file.
 * After the engine in the flow; the CUDA destination lives in {@code io.stload.cuda}.
 */
package io.stload.sink;
