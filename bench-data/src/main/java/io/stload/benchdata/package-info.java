/** Deterministic synthetic checkpoints (Llama-, MoE-shaped, sharded) for tests, the demo and benchmarks. */
package io.stload.benchdata;
