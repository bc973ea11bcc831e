package io.stload.store;

/**
 * Work that must happen together with a swap, such as dropping a KV or prefix cache computed from the old
 * weights. It runs while the store is quiesced: no lease is live and none is granted until it returns. In a reload
 * in place it runs before the first byte of the serving weights is overwritten.
 */
@FunctionalInterface
public interface FlushHook {
    /**
     * Called once per quiesced reload, before {@code toVersion} is published (in place, before anything is written).
     * Throwing rolls the reload back: {@code fromVersion} stays current, whole. It must not take a lease, which would
     * wait for this very reload. Called on the thread running the reload.
     *
     * @param fromVersion the version being replaced
     * @param toVersion   the version about to be published
     * @throws Exception to roll the reload back ({@link ReloadResult.Outcome#FLUSH_FAILED})
     */
    void flush(long fromVersion, long toVersion) throws Exception;
}
