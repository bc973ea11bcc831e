/**
 * From a checkpoint and options to a {@link io.stload.plan.LoadPlan}: each rank's slices under the partition
 * rules, the bytes to read per file, and per file the strategy with the rule that chose it and its reasons.
 * After {@code checkpoint}/{@code format} in the flow, before the engine; also writes pre-sliced per-rank
 * checkpoints ({@link io.stload.plan.Resharder}).
 */
package io.stload.plan;
