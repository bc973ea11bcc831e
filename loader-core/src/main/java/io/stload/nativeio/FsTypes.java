package io.stload.nativeio;

import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** Names for statfs(2) magic numbers, and which of those filesystems are networked or in memory. */
final class FsTypes {
    static final long EXT = 0xEF53L;
    static final long NFS = 0x6969L;
    static final long FUSE = 0x65735546L;

    private static final Map<Long, String> NAMES = Map.ofEntries(
            Map.entry(EXT, "ext4"),
            Map.entry(0x58465342L, "xfs"),
            Map.entry(0x9123683EL, "btrfs"),
            Map.entry(0xF2F52010L, "f2fs"),
            Map.entry(0xCA451A4EL, "bcachefs"),
            Map.entry(0x2FC12FC1L, "zfs"),
            Map.entry(0x01021994L, "tmpfs"),
            Map.entry(0x858458F6L, "ramfs"),
            Map.entry(0x958458F6L, "hugetlbfs"),
            Map.entry(0x794C7630L, "overlay"),
            Map.entry(0x73717368L, "squashfs"),
            Map.entry(0xE0F5E1E2L, "erofs"),
            Map.entry(NFS, "nfs"),
            Map.entry(0xFF534D42L, "cifs"),
            Map.entry(0xFE534D42L, "smb2"),
            Map.entry(0x00C36400L, "ceph"),
            Map.entry(0x0BD00BD0L, "lustre"),
            Map.entry(0x47504653L, "gpfs"),
            Map.entry(0x19830326L, "beegfs"),
            Map.entry(0x01161970L, "gfs2"),
            Map.entry(0x7461636FL, "ocfs2"),
            Map.entry(0x5346414FL, "afs"),
            Map.entry(0x01021997L, "9p"),
            Map.entry(FUSE, "fuse"),
            Map.entry(0x4D44L, "vfat"),
            Map.entry(0x2011BAB0L, "exfat"),
            Map.entry(0x5346544EL, "ntfs"),
            Map.entry(0x9660L, "iso9660"),
            Map.entry(0x9FA0L, "proc"),
            Map.entry(0x62656572L, "sysfs"));

    private static final Set<String> NETWORK = Set.of(
            "nfs", "nfs4", "cifs", "smb2", "smb3", "ceph", "lustre", "gpfs", "beegfs", "9p", "afs",
            "glusterfs", "virtiofs",
            "fuse.sshfs", "fuse.s3fs", "fuse.juicefs", "fuse.gcsfuse", "fuse.goofys", "fuse.rclone",
            "fuse.mountpoint-s3", "fuse.blobfuse", "fuse.blobfuse2", "fuse.glusterfs", "fuse.ceph-fuse",
            "fuse.alluxio-fuse", "fuse.weed", "fuse.geesefs");

    private static final Set<String> RAM = Set.of("tmpfs", "ramfs", "hugetlbfs");

    private FsTypes() {
    }

    /** The name for a magic, or null when it is not one we know. */
    static String nameOf(long magic) {
        // f_type is a signed word: a magic with the top bit set may come back sign-extended.
        return NAMES.get(magic & 0xFFFF_FFFFL);
    }

    /** The magic for a name as /proc/self/mountinfo spells it, or 0 when unknown. */
    static long magicOf(String name) {
        if (name.startsWith("ext")) {
            return EXT;
        }
        if (name.startsWith("fuse") || name.equals("virtiofs")) {
            return FUSE;
        }
        if (name.startsWith("nfs")) {
            return NFS;
        }
        for (Map.Entry<Long, String> e : NAMES.entrySet()) {
            if (e.getValue().equals(name)) {
                return e.getKey();
            }
        }
        return 0;
    }

    /**
     * Whether a magic is shared by several filesystems (fuse.*, virtiofs; ext2/3/4; nfs/nfs4), so that
     * /proc/self/mountinfo should name it.
     */
    static boolean isAmbiguous(long magic) {
        long m = magic & 0xFFFF_FFFFL;
        return m == FUSE || m == EXT || m == NFS || !NAMES.containsKey(m);
    }

    /**
     * The type /proc/self/mountinfo gives the mount, when it agrees with the magic statfs(2) reported (or
     * that magic is one we do not know); otherwise the magic's own name.
     */
    static String refine(long magic, String magicName, Optional<MountTable.Mount> mount) {
        String fallback = magicName != null ? magicName : FsStat.UNKNOWN.name();
        if (mount.isEmpty()) {
            return fallback;
        }
        String fsType = mount.get().fsType();
        boolean agrees = magicName == null || magicOf(fsType) == (magic & 0xFFFF_FFFFL);
        return agrees ? fsType : fallback;
    }

    static boolean isNetwork(String name) {
        return NETWORK.contains(name);
    }

    static boolean isRam(String name) {
        return RAM.contains(name);
    }
}
