/**
 * The first step of the flow: which files make up a checkpoint (a file, a directory with or without
 * {@code model.safetensors.index.json}, a hub-cache snapshot), every shard present and agreeing with the index,
 * peers' downloads waited for, integrity verified; and, at the other end, writing a sharded checkpoint
 * ({@link io.stload.checkpoint.ShardedWriter}). Opening reads headers only.
 */
package io.stload.checkpoint;
