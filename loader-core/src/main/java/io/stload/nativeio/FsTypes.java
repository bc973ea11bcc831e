package io.stload.nativeio;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** Names for statfs(2) magic numbers, and which of those filesystems are networked or in memory. */
final class FsTypes {
    static final long EXT = 0xEF53L;
    static final long NFS = 0x6969L;
    static final long FUSE = 0x65735546L;

    /** statfs(2) magic, in hex, and the name /proc/self/mountinfo gives the filesystem. */
    private static final Map<Long, String> NAMES = table("""
            EF53     ext4
            58465342 xfs
            9123683E btrfs
            F2F52010 f2fs
            CA451A4E bcachefs
            2FC12FC1 zfs
            01021994 tmpfs
            858458F6 ramfs
            958458F6 hugetlbfs
            794C7630 overlay
            73717368 squashfs
            E0F5E1E2 erofs
            6969     nfs
            FF534D42 cifs
            FE534D42 smb2
            00C36400 ceph
            0BD00BD0 lustre
            47504653 gpfs
            19830326 beegfs
            01161970 gfs2
            7461636F ocfs2
            5346414F afs
            01021997 9p
            65735546 fuse
            4D44     vfat
            2011BAB0 exfat
            5346544E ntfs
            9660     iso9660
            9FA0     proc
            62656572 sysfs
            """);

    private static final Set<String> NETWORK = Set.of(
            "nfs", "nfs4", "cifs", "smb2", "smb3", "ceph", "lustre", "gpfs", "beegfs", "9p", "afs",
            "glusterfs", "virtiofs",
            "fuse.sshfs", "fuse.s3fs", "fuse.juicefs", "fuse.gcsfuse", "fuse.goofys", "fuse.rclone",
            "fuse.mountpoint-s3", "fuse.blobfuse", "fuse.blobfuse2", "fuse.glusterfs", "fuse.ceph-fuse",
            "fuse.alluxio-fuse", "fuse.weed", "fuse.geesefs");

    private static final Set<String> RAM = Set.of("tmpfs", "ramfs", "hugetlbfs");

    private FsTypes() {
    }

    private static Map<Long, String> table(String rows) {
        Map<Long, String> names = new HashMap<>();
        for (String row : rows.split("\n")) {
            String[] magicAndName = row.split(" +");
            names.put(Long.parseLong(magicAndName[0], 16), magicAndName[1]);
        }
        return Map.copyOf(names);
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
