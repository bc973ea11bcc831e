/**
 * Jlama's weight loading over stload: {@link io.stload.jlama.StloadWeightLoader} is a Jlama
 * {@code WeightLoader} that reads a checkpoint lazily or loads it eagerly through stload's engine, and
 * {@link io.stload.jlama.JlamaShards} turns a Jlama worker's {@code DistributedContext} into a stload rank plan.
 */
package io.stload.jlama;
