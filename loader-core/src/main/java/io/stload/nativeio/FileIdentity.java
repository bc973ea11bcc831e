package io.stload.nativeio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * Which file a path named when its header was read: the file system's key for it (device and inode), its size and
 * its modification time. A file replaced under the same name (a download renaming a new version into place) has
 * another key; one rewritten in place has another size or time. A load compares what it opens, and its files at the
 * end, with this, so two versions of a checkpoint are never mixed silently.
 *
 * @param key           the file system's key ({@link BasicFileAttributes#fileKey()}), or null where it has none
 * @param size          the size in bytes
 * @param modifiedNanos the modification time, nanoseconds since the epoch
 */
public record FileIdentity(Object key, long size, long modifiedNanos) {
    /**
     * The identity of the file {@code attributes} describe.
     *
     * @param attributes attributes read with symlinks followed
     * @return its identity
     */
    public static FileIdentity of(BasicFileAttributes attributes) {
        return new FileIdentity(attributes.fileKey(), attributes.size(),
                attributes.lastModifiedTime().to(java.util.concurrent.TimeUnit.NANOSECONDS));
    }

    /**
     * Fails unless {@code file} is still the file this identity describes.
     *
     * @param file the path, as the checkpoint names it
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Io} naming what changed
     */
    public void requireSame(Path file) {
        FileIdentity now = of(FileChecks.stat(file));
        if (!Objects.equals(key, now.key)) {
            throw MappedFile.changed(file, "was replaced by another file under its name");
        }
        requireUnmodified(file, now);
    }

    /**
     * Fails if {@code file} still names this file, modified since; another file under its name, or none, passes.
     *
     * @param file the path, as the checkpoint names it
     * @throws io.stload.StloadException {@link io.stload.ErrorKind#Io} naming what changed
     */
    public void requireNotRewritten(Path file) {
        FileIdentity now;
        try {
            now = of(Files.readAttributes(file, BasicFileAttributes.class));
        } catch (IOException e) {
            return; // removed or renamed away: what is mapped is still this file, unchanged by that
        }
        if (key != null && key.equals(now.key)) {
            requireUnmodified(file, now);
        }
    }

    private void requireUnmodified(Path file, FileIdentity now) {
        if (size != now.size) {
            throw MappedFile.changed(file, "changed size from " + size + " to " + now.size + " bytes");
        }
        if (modifiedNanos != now.modifiedNanos) {
            throw MappedFile.changed(file, "was modified");
        }
    }
}
