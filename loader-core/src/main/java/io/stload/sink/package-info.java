/**
 * Destinations, where a load's bytes land: the extension point ({@link io.stload.sink.Destination}, which describes
 * itself once with a {@link io.stload.plan.DestinationProfile}), its implementations (host memory the loader owns
 * for the caller, {@link io.stload.sink.HostSink}; the caller's own buffers, {@link io.stload.sink.CallerBuffers}; a
 * streaming consumer that keeps nothing, {@link io.stload.sink.StreamingSink}) and the slice arithmetic they share
 * ({@link io.stload.sink.SliceScatter}). After {@code plan} and {@code report}, before the engine, which writes
 * into any destination and is never called by one; the CUDA destination lives in {@code io.stload.cuda}.
 */
package io.stload.sink;
