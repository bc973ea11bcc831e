/**
 * From a checkpoint and options to a {@link io.stload.plan.LoadPlan}: each rank's slices under the partition rules,
 * the bytes to read per file, and per file the strategy with the rule that chose it and its reasons, counting what
 * the destination takes ({@link io.stload.plan.DestinationProfile}). After {@code checkpoint}; also writes
 * pre-sliced per-rank checkpoints ({@link io.stload.plan.Resharder}).
 */
package io.stload.plan;
