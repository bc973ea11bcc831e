package io.stload.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class FsTypesTest {

    @Test
    void namesMagics() {
        assertEquals("ext4", FsTypes.nameOf(0xEF53));
        assertEquals("xfs", FsTypes.nameOf(0x58465342));
        assertEquals("tmpfs", FsTypes.nameOf(0x01021994));
        assertEquals("lustre", FsTypes.nameOf(0x0BD00BD0));
        assertNull(FsTypes.nameOf(0x12345678));
    }

    @Test
    void toleratesSignExtendedMagics() {
        assertEquals("cifs", FsTypes.nameOf(0xFFFF_FFFF_FF53_4D42L));
        assertEquals("btrfs", FsTypes.nameOf(0xFFFF_FFFF_9123_683EL));
    }

    @Test
    void refinesSharedMagicsFromTheMountTable() {
        assertEquals("fuse.s3fs", FsTypes.refine(FsTypes.FUSE, "fuse", mount("fuse.s3fs")));
        assertEquals("virtiofs", FsTypes.refine(FsTypes.FUSE, "fuse", mount("virtiofs")));
        assertEquals("ext3", FsTypes.refine(FsTypes.EXT, "ext4", mount("ext3")));
        assertEquals("nfs4", FsTypes.refine(FsTypes.NFS, "nfs", mount("nfs4")));
        assertEquals("zonefs", FsTypes.refine(0x5A4F4653L, null, mount("zonefs")));
    }

    @Test
    void keepsTheMagicsNameWhenTheMountTableDisagreesOrIsSilent() {
        assertEquals("fuse", FsTypes.refine(FsTypes.FUSE, "fuse", mount("xfs")));
        assertEquals("fuse", FsTypes.refine(FsTypes.FUSE, "fuse", Optional.empty()));
        assertEquals("unknown", FsTypes.refine(0x5A4F4653L, null, Optional.empty()));
    }

    @Test
    void classifiesNetworkAndRamFilesystems() {
        for (String name : new String[] {"nfs", "nfs4", "cifs", "smb2", "ceph", "lustre", "gpfs", "beegfs", "9p",
                "virtiofs", "fuse.sshfs", "fuse.s3fs", "fuse.juicefs"}) {
            FsStat stat = new FsStat(FsTypes.magicOf(name), name, 4096);
            assertTrue(stat.isNetwork(), name);
            assertFalse(stat.isRam(), name);
        }
        for (String name : new String[] {"tmpfs", "ramfs"}) {
            assertTrue(new FsStat(FsTypes.magicOf(name), name, 4096).isRam(), name);
        }
        for (String name : new String[] {"ext4", "xfs", "btrfs", "overlay", "fuse", "fuse.lxcfs", "unknown"}) {
            FsStat stat = new FsStat(FsTypes.magicOf(name), name, 4096);
            assertFalse(stat.isNetwork() || stat.isRam(), name);
        }
    }

    @Test
    void magicOfInvertsNameOf() {
        assertEquals(0x58465342L, FsTypes.magicOf("xfs"));
        assertEquals(FsTypes.FUSE, FsTypes.magicOf("fuse.sshfs"));
        assertEquals(FsTypes.EXT, FsTypes.magicOf("ext2"));
        assertEquals(0, FsTypes.magicOf("zonefs"));
    }

    private static Optional<MountTable.Mount> mount(String fsType) {
        return Optional.of(new MountTable.Mount("/m", fsType, "src"));
    }
}
