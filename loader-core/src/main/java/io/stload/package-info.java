/**
 * stload: safetensors checkpoints into Java memory. A checkpoint flows one way: {@code checkpoint} (which files)
 * -&gt; {@code format} (validated headers) -&gt; {@code plan} (what each rank reads, and how) -&gt; the engine
 * ({@code io}, {@code nativeio}) -&gt; {@code sink} (where bytes land) -&gt; {@code load} (tensors and a
 * {@code report}) -&gt; {@code store} (versions, leases, reload). This package holds what every step shares:
 * the one exception family, {@link io.stload.StloadException}, and its {@link io.stload.ErrorKind}.
 */
package io.stload;
