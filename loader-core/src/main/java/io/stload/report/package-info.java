/**
 * What a load measured ({@link io.stload.report.LoadReport}: strategy and rule per file, bytes, GB/s, phases, CPU
 * time, per-tensor latency) and what hears it as it goes ({@link io.stload.report.LoadListener}). After
 * {@code plan}; the destinations and the engine fill it.
 */
package io.stload.report;
