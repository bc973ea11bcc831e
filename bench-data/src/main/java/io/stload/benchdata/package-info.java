/**
 * Deterministic synthetic checkpoints (Llama-, MoE-shaped, uniform matrices, sharded) for tests, the demo and
 * benchmarks. Not a dependency of the library: only the CLI and the benchmarks use it.
 */
package io.stload.benchdata;
