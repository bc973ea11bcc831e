package io.stload.store;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.CheckpointSource;
import io.stload.checkpoint.WaitPolicy;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * Where a version of the weights comes from: what {@link WeightStore#open} and {@link WeightStore#reload} open, each
 * time anew. A local path, a hub repo id with its revision (waiting for a download of it that is still running, as
 * {@code load} does), or anything that opens a {@link Checkpoint}, such as an {@code s3://} prefix through
 * {@code io.stload.s3.S3Storage}:
 *
 * <pre>{@code
 * WeightSource.path(Path.of("/models/llama-step2"));
 * WeightSource.resolve("acme/policy@step-1300", null, WaitPolicy.of(Duration.ofMinutes(10)));
 * WeightSource.of("s3://models/policy/step-1300/", () -> s3.open(S3Location.parse("s3://models/policy/step-1300/")));
 * }</pre>
 *
 * A source is opened on the thread that opens or reloads the store; the checkpoint it returns is closed once its
 * bytes are loaded.
 */
public interface WeightSource {
    /**
     * Names the source as a person reads it, for results, leases and logs.
     *
     * @return a path, a repo id with its revision, or a URL
     */
    String name();

    /**
     * Opens the checkpoint this source names now: headers only.
     *
     * @return the open checkpoint, never null (the store fails a null as {@link io.stload.ErrorKind#Callback}); the
     *         store closes it
     * @throws io.stload.StloadException whatever stops the checkpoint from opening, with its kind
     */
    Checkpoint open();

    /**
     * A local {@code .safetensors} file or checkpoint folder.
     *
     * @param checkpoint the path
     * @return the source
     * @throws StloadException {@link ErrorKind#Usage} if {@code checkpoint} is null
     */
    static WeightSource path(Path checkpoint) {
        StloadException.requireNonNull(checkpoint, "a weight source's checkpoint is a path, not null");
        return of(checkpoint.toString(), () -> Checkpoint.open(checkpoint));
    }

    /**
     * What a user names: an existing path, else a hub repo id {@code org/name[@revision]} resolved in the hub cache,
     * waiting under {@code wait} for a download of it still in progress ({@link CheckpointSource#resolve}).
     *
     * @param pathOrRepo a file or folder, or a repo id
     * @param cacheDir   the hub cache, or null for the one the environment names
     * @param wait       how long to wait for a download in progress, and where its progress lines go
     * @return the source
     * @throws StloadException {@link ErrorKind#Usage} if {@code pathOrRepo} or {@code wait} is null
     */
    static WeightSource resolve(String pathOrRepo, Path cacheDir, WaitPolicy wait) {
        if (pathOrRepo == null || wait == null) {
            throw StloadException.usage("a weight source is resolved from a path or repo id, under a wait policy, "
                    + "not null");
        }
        return of(pathOrRepo, () -> CheckpointSource.resolve(pathOrRepo, cacheDir, wait));
    }

    /**
     * Any checkpoint the caller opens, e.g. a folder in object storage.
     *
     * @param name   names the source in results and leases, e.g. {@code s3://bucket/prefix/}
     * @param opener opens it, once per open or reload; what it throws is the reload's failure (a
     *               {@link io.stload.StloadException} keeps its kind, anything else is {@link io.stload.ErrorKind#Callback})
     * @return the source
     * @throws StloadException {@link ErrorKind#Usage} if {@code name} or {@code opener} is null
     */
    static WeightSource of(String name, Supplier<Checkpoint> opener) {
        if (name == null || opener == null) {
            throw StloadException.usage("a weight source needs its name and its opener, not null");
        }
        return new WeightSource() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Checkpoint open() {
                return opener.get();
            }

            @Override
            public String toString() {
                return name;
            }
        };
    }
}
