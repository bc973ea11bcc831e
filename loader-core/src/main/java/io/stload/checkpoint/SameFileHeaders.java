package io.stload.checkpoint;

import io.stload.StloadException;
import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.nativeio.FileChecks;
import io.stload.nativeio.FileIdentity;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Reads the headers of a checkpoint's files, each distinct file once: shards that are one file under several
 * names (hard links: the same device and inode, size and time) share one parsed table ({@link Header#sharedAs}).
 * Without this a header's memory, bounded per file, was spent again for every name: a few hard links to one file
 * with a large header took gigabytes. One instance serves one walk of a checkpoint; it is not thread-safe.
 */
final class SameFileHeaders {
    private final Map<FileIdentity, Header> byFile = new HashMap<>();

    /** The validated header of {@code file}, shared with an earlier name of the same file when there is one. */
    Header read(Path file) {
        FileIdentity before = FileIdentity.of(FileChecks.requireRegularFile(file));
        Header seen = before.key() == null ? null : byFile.get(before);
        if (seen != null) {
            return seen.sharedAs(file);
        }
        Header h = HeaderParser.read(file);
        if (before.key() != null && before.equals(identityNow(file))) {
            byFile.put(before, h); // the file parsed is the one identified: it was not replaced meanwhile
        }
        return h;
    }

    private static FileIdentity identityNow(Path file) {
        try {
            return FileIdentity.of(FileChecks.stat(file));
        } catch (StloadException e) {
            return null;
        }
    }
}
