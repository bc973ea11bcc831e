package io.stload.cudamodulepath;

import io.stload.cuda.CudaCopyEngine;
import java.util.Optional;

/**
 * A program outside the library, run by {@link CudaModulePathTest} with {@code io.stload.cuda}, JCuda and the
 * core on the module path: prints the module JCuda resolved as, then whether device 0 opens (or why not).
 * Its package is one the library does not have, so the class path cannot shadow a module package.
 */
public final class OpenDeviceOnModulePath {
    private OpenDeviceOnModulePath() {
    }

    public static void main(String[] args) {
        System.out.println("cuda=" + CudaCopyEngine.class.getModule().getName());
        System.out.println("jcuda=" + jcuda.runtime.JCuda.class.getModule().getName());
        Optional<String> unavailable = CudaCopyEngine.unavailableReason();
        System.out.println("device=" + unavailable.orElse("opened"));
    }
}
