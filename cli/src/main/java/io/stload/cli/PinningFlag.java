package io.stload.cli;

import io.stload.cuda.Pinning;
import picocli.CommandLine.Option;

/**
 * {@code --pinning}: how a GPU command pins host memory for its copies. Kept as text until a GPU command runs, so
 * that parsing the flags of a host load never loads a class of the CUDA module.
 */
final class PinningFlag implements CheckedFlags {
    @Option(names = "--pinning", paramLabel = "HOW", defaultValue = "alloc",
            description = "GPU: how host memory is pinned for copies, alloc (cudaHostAlloc) or register "
                    + "(cudaHostRegister of FFM memory) (default: ${DEFAULT-VALUE}).")
    String how;

    Pinning value() {
        return FlagValue.parse("--pinning", how, Pinning::parse);
    }

    @Override
    public void check() {
        value();
    }
}
