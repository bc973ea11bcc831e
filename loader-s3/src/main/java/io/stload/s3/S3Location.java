package io.stload.s3;

import io.stload.ErrorKind;
import io.stload.StloadException;

/**
 * An {@code s3://bucket/key} URL: a checkpoint folder ({@code s3://bucket/prefix/}, with or without a trailing
 * slash, or the whole bucket) or one {@code .safetensors} object.
 *
 * @param bucket the bucket
 * @param key    a folder prefix ending with {@code /} (empty for the bucket's root), or an object's key
 */
public record S3Location(String bucket, String key) {
    /** The URL scheme, {@code s3://}. */
    public static final String SCHEME = "s3://";

    /**
     * Checks that the bucket and the key are given.
     *
     * @throws StloadException {@link ErrorKind#Usage} if {@code bucket} or {@code key} is null
     */
    public S3Location {
        if (bucket == null || key == null) {
            throw StloadException.usage("an S3 location needs its bucket and key (empty for the root), not null");
        }
    }

    /**
     * Tells an S3 URL from a path or a repo id.
     *
     * @param text what the user gave, or null
     * @return true when it starts with {@code s3://}
     */
    public static boolean isS3(String text) {
        return text != null && text.startsWith(SCHEME);
    }

    /**
     * Parses {@code s3://bucket[/prefix[/]]} or {@code s3://bucket/key.safetensors}; a key that does not end in
     * {@code .safetensors} is a folder.
     *
     * @param url the URL
     * @return the location
     * @throws StloadException {@link ErrorKind#Usage} for anything else
     */
    public static S3Location parse(String url) {
        if (!isS3(url)) {
            throw usage(url, "does not start with " + SCHEME);
        }
        String rest = url.substring(SCHEME.length());
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String key = slash < 0 ? "" : rest.substring(slash + 1);
        if (!bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
            throw usage(url, "`" + bucket + "` is not a valid bucket name");
        }
        if (key.startsWith("/") || key.contains("//")) {
            throw usage(url, "the key has an empty path segment");
        }
        if (!key.isEmpty() && !key.endsWith("/") && !key.endsWith(".safetensors")) {
            key += "/";
        }
        return new S3Location(bucket, key);
    }

    /** {@return true when this names one object rather than a folder} */
    public boolean isObject() {
        return !key.isEmpty() && !key.endsWith("/");
    }

    /** {@return the folder: the prefix itself, or the object's parent (empty for the bucket's root)} */
    public String folder() {
        return isObject() ? key.substring(0, key.lastIndexOf('/') + 1) : key;
    }

    /** {@return the object's name within its folder, or null for a folder} */
    public String objectName() {
        return isObject() ? key.substring(folder().length()) : null;
    }

    @Override
    public String toString() {
        return SCHEME + bucket + "/" + key;
    }

    private static StloadException usage(String url, String why) {
        return new StloadException(ErrorKind.Usage, null, "`" + url + "` is not an S3 location: " + why
                + " (expected s3://bucket/prefix/ or s3://bucket/key.safetensors)");
    }
}
