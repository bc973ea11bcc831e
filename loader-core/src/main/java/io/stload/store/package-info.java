/**
 * The last step of the flow, for servers: a {@link io.stload.store.WeightStore} holds numbered versions of
 * loaded weights in a {@link io.stload.store.StoreMemory} (host memory, the caller's buffers, a GPU's), lends them
 * under leases, and reloads a new version from any {@link io.stload.store.WeightSource}, beside the serving one or in
 * place, reading only the tensors that changed. It loads through {@code load}.
 */
package io.stload.store;
