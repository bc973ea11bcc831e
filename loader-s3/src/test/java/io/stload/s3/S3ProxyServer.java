package io.stload.s3;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.gaul.s3proxy.BlobStores;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.blobstore.BlobStore;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;

/**
 * A real S3 server for tests: S3Proxy in-process on loopback with its filesystem backend and signature checking on
 * ({@code s3proxy.authorization=aws-v2-or-v4}, the setup its documentation shows first), serving a folder (a bucket
 * is a directory; files placed there are served without an ETag) or, through {@link #put}, objects stored with one.
 * Requests are signed with the key this class sets as the SDK's system properties.
 */
public final class S3ProxyServer implements AutoCloseable {
    private static final String IDENTITY = "test";
    private static final String CREDENTIAL = "test-secret";

    static {
        // The key the SDK's default chain finds, and S3Proxy checks every request's signature against.
        System.setProperty("aws.accessKeyId", IDENTITY);
        System.setProperty("aws.secretAccessKey", CREDENTIAL);
        // The CRT tracks each native object it allocates (read once, when its first class loads), so that tests can
        // tell whether a client left any behind.
        System.setProperty("aws.crt.debugnative", "true");
    }

    private final Path root;
    private final BlobStore store;
    private final S3Proxy proxy;

    /** Serves {@code root}, checking every request's signature. */
    public S3ProxyServer(Path root) throws Exception {
        this(root, true);
    }

    /** Serves {@code root}; unsigned, for clients that sign nothing (curl in the benchmark). */
    public S3ProxyServer(Path root, boolean signed) throws Exception {
        this.root = Files.createDirectories(root);
        Properties p = new Properties();
        p.setProperty("jclouds.filesystem.basedir", root.toString());
        p.setProperty("jclouds.identity", "");
        p.setProperty("jclouds.credential", "");
        store = BlobStores.create("filesystem", p);
        Properties s = new Properties();
        s.setProperty("s3proxy.endpoint", "http://127.0.0.1:0");
        s.setProperty("s3proxy.authorization", signed ? "aws-v2-or-v4" : "none");
        if (signed) {
            s.setProperty("s3proxy.identity", IDENTITY);
            s.setProperty("s3proxy.credential", CREDENTIAL);
        }
        // S3 takes the session token that temporary credentials sign with (x-amz-security-token); S3Proxy, which
        // knows no such header, would refuse it as not implemented.
        s.setProperty("s3proxy.ignore-unknown-headers", "true");
        proxy = S3Proxy.Builder.fromProperties(s).blobStore(store).stopTimeout(0).build();
        proxy.start();
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + proxy.getPort());
    }

    /** The folder behind a bucket: files copied there are objects. */
    public Path bucket(String name) throws IOException {
        return Files.createDirectories(root.resolve(name));
    }

    /** Stores an object through the blob store, which gives it an ETag. */
    public void put(String bucket, String key, Path file) throws IOException {
        bucket(bucket);
        try (InputStream in = Files.newInputStream(file)) {
            store.putBlob(PutObjectRequest.builder().bucket(bucket).key(key).contentLength(Files.size(file)).build(), in);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            proxy.stop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while S3Proxy stopped");
        } catch (Exception e) {
            throw new IOException("S3Proxy did not stop", e);
        }
    }
}
