/**
 * The CUDA destination: a checkpoint's tensors loaded into GPU memory through a pinned staging ring.
 *
 * <p>JCuda loads its JNI library itself: on the module path it also needs {@code --enable-native-access=jcuda}
 * (JCuda's jar has no module name of its own; {@code jcuda} is the one derived from its file name).
 */
module io.stload.cuda {
    requires transitive io.stload.core;
    requires jcuda;

    exports io.stload.cuda;
}
