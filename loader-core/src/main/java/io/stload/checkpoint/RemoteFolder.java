package io.stload.checkpoint;

import io.stload.format.RangeSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A checkpoint folder that is not on a local filesystem (a prefix in object storage). {@link Checkpoint}
 * discovers its files through this exactly as it does a directory's, and the engine reads them through
 * {@link #open}. A file's identity (size, version) is fixed the first time it is opened, so headers and tensor
 * bytes always come from the same version of it.
 */
public interface RemoteFolder {

    /** The folder as the user named it, e.g. {@code s3://bucket/prefix/}. */
    String location();

    /** The path a file of this folder is known by in headers, plans and reports. */
    Path pathOf(String name);

    /** Names of the files directly in the folder ending with {@code suffix}, sorted. */
    List<String> list(String suffix) throws IOException;

    /** Whether the file exists (a HEAD request, for instance). */
    boolean exists(String name) throws IOException;

    /** A small file's whole content (an index), refused past {@code maxBytes}. */
    byte[] readAll(String name, long maxBytes) throws IOException;

    /** The file's bytes, read by position; the same version every time it is opened. */
    RangeSource open(String name) throws IOException;

    /** Why reads from here take the shape they do (part size, requests in flight), for the plan. */
    List<String> readReasons();

    /** Requests to keep in flight. */
    int concurrency();

    /** Bytes per request. */
    long partBytes();
}
