/**
 * The last step of the flow, for servers: a {@link io.stload.store.WeightStore} holds numbered versions of
 * loaded weights, lends them under leases, and reloads a new version. It loads through {@code load}.
 */
package io.stload.store;
