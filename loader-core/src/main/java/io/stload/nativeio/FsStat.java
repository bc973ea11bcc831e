package io.stload.nativeio;

/**
 * What statfs(2) says of a filesystem: its magic {@code type} (f_type), a name for it (from the magic, or
 * from /proc/self/mountinfo for filesystems that share a magic, such as fuse.*), and its block size.
 * {@code type} is 0 and {@code name} "unknown" when it could not be found out.
 */
public record FsStat(long type, String name, long blockSize) {
    public static final FsStat UNKNOWN = new FsStat(0, "unknown", 4096);

    /** True for filesystems whose reads cross a network (or a hypervisor boundary), where latency dominates. */
    public boolean isNetwork() {
        return FsTypes.isNetwork(name);
    }

    /** True for filesystems that live in memory: there is no disk behind them, and no O_DIRECT. */
    public boolean isRam() {
        return FsTypes.isRam(name);
    }
}
