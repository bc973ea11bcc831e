/**
 * Checkpoints in S3-compatible object storage, a source beside local files at the first step of the flow:
 * {@link io.stload.s3.S3Storage} opens an {@code s3://} folder or object as a {@link io.stload.checkpoint.Checkpoint}
 * (headers by ranged GETs), and the one engine then reads its tensors by ranged GETs as the plan's {@code s3}
 * strategy, into any destination.
 */
package io.stload.s3;
