package io.stload.nativeio;

/**
 * What statfs(2) says of a filesystem: its magic {@code type} (f_type), a name for it (from the magic, or
 * from /proc/self/mountinfo for filesystems that share a magic, such as fuse.*), and its block size.
 * {@code type} is 0 and {@code name} "unknown" when it could not be found out.
 */
public record FsStat(long type, String name, long blockSize) {
    public static final FsStat UNKNOWN = new FsStat(0, "unknown", 4096);
}
