package io.stload.cuda;

import jcuda.runtime.JCuda;

/** One process of {@link JCudaLibraryProcessTest}: loads the library as stload does, then makes one CUDA call. */
public final class JCudaLoadMain {
    private JCudaLoadMain() {
    }

    public static void main(String[] args) {
        JCudaLibrary.load();
        int[] count = {0};
        // Without a device (or driver) this answers an error code; what matters is that the process gets here.
        int rc = JCuda.cudaGetDeviceCount(count);
        System.out.println("cudaGetDeviceCount rc=" + rc + " count=" + count[0]);
    }
}
