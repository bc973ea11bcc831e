package io.stload.s3;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.gaul.s3proxy.BlobStores;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.blobstore.BlobStore;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;

/**
 * A real S3 server for tests: S3Proxy in-process on loopback, serving a folder (a bucket is a directory; files
 * placed there are served without an ETag) or, through {@link #put}, objects stored with one.
 */
public final class S3ProxyServer implements AutoCloseable {
    static {
        // The SDK signs every request; S3Proxy here checks no signature, but the default chain must find a key.
        System.setProperty("aws.accessKeyId", "test");
        System.setProperty("aws.secretAccessKey", "test");
    }

    private final Path root;
    private final BlobStore store;
    private final S3Proxy proxy;

    public S3ProxyServer(Path root) throws Exception {
        this.root = Files.createDirectories(root);
        Properties p = new Properties();
        p.setProperty("jclouds.filesystem.basedir", root.toString());
        p.setProperty("jclouds.identity", "");
        p.setProperty("jclouds.credential", "");
        store = BlobStores.create("filesystem", p);
        Properties s = new Properties();
        s.setProperty("s3proxy.endpoint", "http://127.0.0.1:0");
        s.setProperty("s3proxy.authorization", "none");
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
    public void close() throws Exception {
        proxy.stop();
    }
}
