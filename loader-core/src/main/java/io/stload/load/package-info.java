/**
 * The front doors: {@link io.stload.load.Loader} plans and loads a checkpoint eagerly, into host memory the caller
 * then owns ({@link io.stload.load.LoadedWeights}), into a destination of the caller's, or through a streaming
 * consumer; every one of them runs on the one engine. After the engine; before {@code store}.
 */
package io.stload.load;
