package io.stload.checkpoint;

import io.stload.format.RangeSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * A checkpoint folder that is not on a local filesystem (a prefix in object storage). {@link Checkpoint}
 * discovers its files through this exactly as it does a directory's, and the engine reads them through
 * {@link #open}. A file's identity (size, version) is fixed the first time it is opened, so headers and tensor
 * bytes always come from the same version of it. Called from any thread that reads the checkpoint, lazily or through
 * the engine, so implementations must be thread-safe.
 */
public interface RemoteFolder {

    /** {@return the folder as the user named it, e.g. {@code s3://bucket/prefix/}} */
    String location();

    /**
     * Names a file of this folder as headers, plans and reports know it.
     *
     * @param name the file's name in the folder
     * @return its path
     */
    Path pathOf(String name);

    /**
     * Lists the files directly in the folder.
     *
     * @param suffix the ending to keep, e.g. {@code .safetensors}
     * @return their names, sorted
     * @throws IOException if the listing fails
     */
    List<String> list(String suffix) throws IOException;

    /**
     * Checks that a file exists (a HEAD request, for instance).
     *
     * @param name the file's name in the folder
     * @return whether it exists
     * @throws IOException if the check fails
     */
    boolean exists(String name) throws IOException;

    /**
     * Reads a small file (an index) whole.
     *
     * @param name     the file's name in the folder
     * @param maxBytes the largest size accepted
     * @return its content
     * @throws IOException if it cannot be read or is larger than {@code maxBytes}
     */
    byte[] readAll(String name, long maxBytes) throws IOException;

    /**
     * Opens a file for positional reads; the same version every time it is opened.
     *
     * @param name the file's name in the folder
     * @return its bytes; the caller closes it
     * @throws IOException if it cannot be opened
     */
    RangeSource open(String name) throws IOException;

    /** {@return why reads from here take the shape they do (part size, requests in flight), for the plan} */
    List<String> readReasons();

    /** {@return the number of requests to keep in flight} */
    int concurrency();

    /** {@return the bytes per request} */
    long partBytes();

    /**
     * The largest gap between two ranges to read through rather than skip: beyond it, a separate request for
     * the next range costs less than the gap's bytes.
     *
     * @return the gap bound in bytes
     */
    long maxGapBytes();
}
