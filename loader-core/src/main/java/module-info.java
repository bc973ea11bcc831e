/**
 * stload: safetensors checkpoints loaded into Java memory, read lazily, or handed to a destination.
 *
 * <p>The exported packages are the API an embedder touches, and name no type of the internal ones, which are
 * exported to nobody: {@code io.stload.io} (the engine), {@code io.stload.host} (facts about the host, such as its
 * memory headroom) and {@code io.stload.nativeio} (libc through FFM). Every destination, the CUDA one included,
 * runs on the engine through {@code io.stload.load.Loader}.
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
}
