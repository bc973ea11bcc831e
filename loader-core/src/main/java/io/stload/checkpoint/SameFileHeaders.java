package io.stload.checkpoint;

import io.stload.format.Header;
import io.stload.format.HeaderParser;
import io.stload.format.UnknownDtypes;
import io.stload.nativeio.FileChecks;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;

/**
 * Reads the headers of a checkpoint's files, each distinct file once: shards that are one file under several
 * names (hard links, found by device and inode) share one parsed table ({@link Header#sharedAs}). Without this a
 * header's memory, bounded per file, was spent again for every name: a few hard links to one file with a large
 * header took gigabytes. One instance serves one open; it is not thread-safe.
 */
final class SameFileHeaders {
    private final Map<Object, Header> byFile = new HashMap<>();
    private final UnknownDtypes unknown;

    SameFileHeaders(UnknownDtypes unknown) {
        this.unknown = unknown;
    }

    /** The validated header of {@code file}, shared with an earlier name of the same file when there is one. */
    Header read(Path file) {
        BasicFileAttributes before = FileChecks.requireRegularFile(file);
        Object key = before.fileKey();
        Header seen = key == null ? null : byFile.get(key);
        if (seen != null && seen.fileSize() == before.size()) {
            return seen.sharedAs(file);
        }
        Header h = HeaderParser.read(file, unknown);
        if (key != null && key.equals(fileKeyOf(file))) {
            byFile.put(key, h); // the file parsed is the one identified: it was not replaced meanwhile
        }
        return h;
    }

    private static Object fileKeyOf(Path file) {
        try {
            return Files.readAttributes(file, BasicFileAttributes.class).fileKey();
        } catch (IOException e) {
            return null;
        }
    }
}
