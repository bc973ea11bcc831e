package io.stload.nativeio;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The mounts listed in /proc/self/mountinfo (see proc(5)), used to name filesystems that statfs(2) alone
 * cannot tell apart: every fuse filesystem, virtiofs included, reports the same magic.
 */
final class MountTable {
    static final Path PROC_SELF_MOUNTINFO = Path.of("/proc/self/mountinfo");

    /** One mount: where it is, its type as mountinfo spells it (e.g. "fuse.sshfs") and its source. */
    record Mount(String mountPoint, String fsType, String source) {
    }

    private final List<Mount> mounts;

    private MountTable(List<Mount> mounts) {
        this.mounts = List.copyOf(mounts);
    }

    /** This process's mount table; empty when it cannot be read (not Linux, /proc not mounted). */
    static MountTable load() {
        return load(PROC_SELF_MOUNTINFO);
    }

    static MountTable load(Path mountinfo) {
        try {
            return parse(Files.readString(mountinfo, StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return new MountTable(List.of());
        }
    }

    /** Parses mountinfo text; lines that do not have the expected shape are skipped. */
    static MountTable parse(String mountinfo) {
        List<Mount> mounts = new ArrayList<>();
        for (String line : mountinfo.split("\n")) {
            // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
            String[] fields = line.trim().split(" ");
            int separator = List.of(fields).indexOf("-");
            if (separator < 6 || fields.length < separator + 3) {
                continue;
            }
            mounts.add(new Mount(unescape(fields[4]), unescape(fields[separator + 1]), unescape(fields[separator + 2])));
        }
        return new MountTable(mounts);
    }

    List<Mount> mounts() {
        return mounts;
    }

    /**
     * The mount holding {@code realPath}: the longest mount point that is a prefix of it, component by
     * component. Among mounts on the same point the last listed wins, since it hides the earlier ones.
     */
    Optional<Mount> find(Path realPath) {
        Path path = realPath.toAbsolutePath().normalize();
        Mount best = null;
        int bestDepth = -1;
        for (Mount mount : mounts) {
            Path point = Path.of(mount.mountPoint());
            if (path.startsWith(point) && point.getNameCount() >= bestDepth) {
                best = mount;
                bestDepth = point.getNameCount();
            }
        }
        return Optional.ofNullable(best);
    }

    /** The kernel writes space, tab, newline and backslash in mountinfo as three-digit octal escapes. */
    static String unescape(String field) {
        if (field.indexOf('\\') < 0) {
            return field;
        }
        StringBuilder out = new StringBuilder(field.length());
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && isOctal(field, i + 1)) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '7') {
                return false;
            }
        }
        return true;
    }
}
