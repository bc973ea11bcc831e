/**
 * The eager entry point: {@link io.stload.load.Loader} executes a plan and returns
 * {@link io.stload.load.LoadedWeights}, tensors in memory the caller owns plus the load's report.
 * After the engine and the destination in the flow; before {@code store}.
 */
package io.stload.load;
