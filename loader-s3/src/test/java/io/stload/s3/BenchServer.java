package io.stload.s3;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * For {@code bench/s3.sh}, not a test: S3Proxy serving a folder on loopback (each directory a bucket), and a
 * pass-through proxy in front of it that counts the body bytes served ({@code GET /__served} reads and resets
 * the count). With a checkpoint folder and a {@code bucket/prefix}, first stores each of its files there as an
 * object with an ETag, as S3 or MinIO would hold it (files merely placed in ROOT are served without one). Writes
 * "S3PROXY_PORT COUNTING_PORT" to the port file, then serves until killed.
 *
 * <p>usage: {@code BenchServer ROOT PORTFILE [CHECKPOINT BUCKET/PREFIX]}
 */
public final class BenchServer {
    private BenchServer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2 && args.length != 4) {
            System.err.println("usage: BenchServer ROOT PORTFILE [CHECKPOINT BUCKET/PREFIX]");
            System.exit(2);
        }
        S3ProxyServer server = new S3ProxyServer(Path.of(args[0]), false); // curl, the ceiling's client, signs nothing
        if (args.length == 4) {
            String[] bucketAndPrefix = args[3].split("/", 2);
            try (var files = Files.list(Path.of(args[2]))) {
                for (Path f : files.sorted().toList()) {
                    server.put(bucketAndPrefix[0], bucketAndPrefix[1] + "/" + f.getFileName(), f);
                }
            }
        }
        FaultProxy counting = new FaultProxy(server.endpoint());
        Path ports = Path.of(args[1]);
        Path partial = ports.resolveSibling(ports.getFileName() + ".tmp");
        Files.writeString(partial, server.endpoint().getPort() + " " + counting.endpoint().getPort() + "\n");
        Files.move(partial, ports);
        Thread.currentThread().join();
    }
}
