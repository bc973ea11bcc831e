package io.stload.store;

/**
 * Work that must happen together with a swap, such as dropping a KV or prefix cache computed from the old
 * weights. It runs while the store is quiesced: no lease is live and none is granted until it returns.
 */
@FunctionalInterface
public interface FlushHook {
    /**
     * Called once per quiesced reload, before {@code toVersion} is published. Throwing rolls the reload back:
     * {@code fromVersion} stays current. It must not take a lease, which would wait for this very reload.
     *
     * @param fromVersion the version being replaced
     * @param toVersion   the version about to be published
     * @throws Exception to roll the reload back ({@link ReloadResult.Outcome#FLUSH_FAILED})
     */
    void flush(long fromVersion, long toVersion) throws Exception;
}
