/**
 * What a load measured: strategy and reasons per file, bytes, GB/s, phases and per-tensor latency.
 * The last step of an eager load, returned with the tensors.
 */
package io.stload.report;
