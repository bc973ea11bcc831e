/**
 * The CUDA destination: a plan executed into GPU memory through a pinned staging ring (JCuda). It reads
 * nothing itself, and nothing else in stload knows JCuda exists.
 */
package io.stload.cuda;
