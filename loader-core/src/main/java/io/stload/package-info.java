/**
 * stload: safetensors checkpoints into Java memory. A checkpoint flows one way through the packages, each importing
 * only those before it (an ArchUnit test holds the order): {@code format} (the file format: validated headers,
 * dtypes, the writer) -&gt; {@code checkpoint} (which files make a checkpoint; lazy tensor access) -&gt;
 * {@code plan} (what each rank reads, and how) -&gt; {@code report} (what a load measured) -&gt; {@code sink}
 * (destinations: where bytes land) -&gt; the engine ({@code io}) -&gt; {@code load} (the front doors: eager and
 * streaming loads) -&gt; {@code store} (versions, leases, reload). Below all of them sit the facts they share:
 * this package, with the one exception family ({@link io.stload.StloadException} and its
 * {@link io.stload.ErrorKind}), {@code nativeio} (libc through FFM, the one place a file is mapped) and {@code host}
 * (facts about the host, such as its memory headroom).
 */
package io.stload;
