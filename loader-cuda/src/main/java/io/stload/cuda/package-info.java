/** The CUDA sink: pinned staging ring to GPU memory through JCuda. Only this module knows JCuda exists. */
package io.stload.cuda;
