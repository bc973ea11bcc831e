package io.stload.cuda;

import io.stload.ErrorKind;
import io.stload.StloadException;
import jcuda.runtime.JCuda;
import jcuda.runtime.cudaError;

/**
 * Every CUDA return code goes through {@link #check}: JCuda's own exceptions stay disabled, because its
 * exception for cudaErrorNotReady would turn an event query into control flow by exception. A failure becomes
 * one {@link StloadException} whose kind says what the user can do about it.
 */
final class CudaErrors {
    private CudaErrors() {
    }

    static void check(int rc, String what) {
        if (rc != cudaError.cudaSuccess) {
            throw error(rc, what);
        }
    }

    static StloadException error(int rc, String what) {
        String detail = what + " failed: " + describe(rc);
        return switch (rc) {
            case cudaError.cudaErrorMemoryAllocation -> new StloadException(ErrorKind.OutOfMemory, null, detail);
            case cudaError.cudaErrorInsufficientDriver, cudaError.cudaErrorNoDevice,
                 cudaError.cudaErrorInvalidDevice -> new StloadException(ErrorKind.NoDevice, null, detail);
            default -> new StloadException(ErrorKind.Io, null, detail);
        };
    }

    static String describe(int rc) {
        return cudaError.stringFor(rc) + " (" + JCuda.cudaGetErrorString(rc) + ")";
    }
}
