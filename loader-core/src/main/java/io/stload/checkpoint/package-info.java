/**
 * Which files make up a checkpoint (a file, a directory with or without {@code model.safetensors.index.json}, a
 * hub-cache snapshot, a folder in object storage), every shard present and agreeing with the index, peers'
 * downloads waited for, integrity verified; lazy access to its tensors (views, copies, slices), reading headers
 * only until a tensor is asked for; and writing a sharded checkpoint ({@link io.stload.checkpoint.ShardedWriter}).
 * After {@code format}; loading a checkpoint is done by {@code load}, above.
 */
package io.stload.checkpoint;
