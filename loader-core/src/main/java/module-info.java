/**
 * stload: safetensors checkpoints loaded into Java memory, read lazily, or handed to a destination.
 *
 * <p>The exported packages are the API an embedder touches, and name no type of the internal ones.
 * {@code io.stload.io} (the engine's read strategies) and {@code io.stload.host} (memory headroom, and the host
 * memory a load allocates) are internal; {@code io.stload.nativeio} (libc through FFM) is internal too;
 * {@code io} and {@code nativeio} are exported only to the CUDA destination, which runs on the engine.
 * Run with {@code --enable-native-access=io.stload.core}, or every native call takes its pure-Java fallback.
 */
module io.stload.core {
    requires tools.jackson.core;
    requires HdrHistogram;
    /** BF16 conversion uses it when the runtime adds it ({@code --add-modules jdk.incubator.vector}); optional. */
    requires static jdk.incubator.vector;

    exports io.stload;
    exports io.stload.checkpoint;
    exports io.stload.format;
    exports io.stload.load;
    exports io.stload.plan;
    exports io.stload.report;
    exports io.stload.sink;
    exports io.stload.store;

    exports io.stload.io to io.stload.cuda;
    exports io.stload.nativeio to io.stload.cuda;
}
