/**
 * The safetensors format itself: the header parser with the reference implementation's rules, dtypes,
 * tensor views over a mapped file, and the writer. Below {@code checkpoint} in the flow, above everything
 * that reads tensor bytes; it knows nothing of plans, engines or destinations.
 */
package io.stload.format;
