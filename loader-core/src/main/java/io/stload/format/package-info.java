/**
 * The safetensors format itself: the header parser with the reference implementation's rules, dtypes, tensors
 * over memory, conversion between floating-point types, and the writer. The first package of the flow: it imports
 * only the exception family and {@code nativeio}, and knows nothing of checkpoints, plans, engines or destinations.
 */
package io.stload.format;
