package io.stload.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class MountTableTest {
    private static final String MOUNTINFO = """
            22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
            23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
            24 22 0:5 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
            30 22 0:40 / /work rw,relatime shared:20 - xfs /dev/vdb rw,attr2
            31 22 0:41 / /mnt/my\\040models rw,nosuid,nodev shared:21 master:4 - fuse.sshfs user@host:/models rw
            32 22 0:42 / /data rw,relatime - nfs4 server:/export rw,vers=4.2
            33 32 0:43 / /data/cache rw,relatime - virtiofs cachetag rw
            34 32 0:44 / /data rw,relatime - ceph 10.0.0.1:/ rw
            garbage line without separator
            """;

    private final MountTable table = MountTable.parse(MOUNTINFO);

    @Test
    void parsesEveryWellFormedLine() {
        assertEquals(8, table.mounts().size());
        assertEquals(new MountTable.Mount("/work", "xfs", "/dev/vdb"), table.mounts().get(3));
    }

    @Test
    void longestMountPointPrefixWins() {
        assertEquals("/", fsOf("/etc/hostname").mountPoint());
        assertEquals("xfs", fsOf("/work/models/a.safetensors").fsType());
        assertEquals("xfs", fsOf("/work").fsType());
        assertEquals("virtiofs", fsOf("/data/cache/x").fsType());
    }

    @Test
    void matchesWholePathComponentsOnly() {
        assertEquals("ext4", fsOf("/workspace/file").fsType());
        assertEquals("ext4", fsOf("/dev/shmem").fsType());
    }

    @Test
    void laterMountOnTheSamePointHidesTheEarlier() {
        assertEquals("ceph", fsOf("/data/x").fsType());
    }

    @Test
    void unescapesOctalSpaces() {
        MountTable.Mount mount = fsOf("/mnt/my models/llama");
        assertEquals("/mnt/my models", mount.mountPoint());
        assertEquals("fuse.sshfs", mount.fsType());
        assertEquals("a\tb\\c", MountTable.unescape("a\\011b\\134c"));
        assertEquals("trailing\\04", MountTable.unescape("trailing\\04"));
    }

    @Test
    void emptyWhenUnreadable() {
        assertTrue(MountTable.load(Path.of("/nonexistent/mountinfo")).mounts().isEmpty());
        assertFalse(MountTable.parse("").find(Path.of("/x")).isPresent());
    }

    private MountTable.Mount fsOf(String path) {
        return table.find(Path.of(path)).orElseThrow();
    }
}
