/**
 * stload for Jlama: Jlama's {@code WeightLoader} over stload's checkpoints, lazy views and load engine.
 *
 * <p>Jlama's jar has no module name of its own; {@code jlama.core} is the one derived from its file name. Jlama's
 * tensors are built on the Vector API: run with {@code --add-modules jdk.incubator.vector}.
 */
module io.stload.jlama {
    requires transitive io.stload.core;
    requires transitive jlama.core;
    requires jdk.incubator.vector;

    exports io.stload.jlama;
}
