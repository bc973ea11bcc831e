package io.stload.s3;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * For {@code bench/s3.sh}, not a test: S3Proxy serving a folder on loopback (each directory a bucket), and a
 * pass-through proxy in front of it that counts the body bytes served ({@code GET /__served} reads and resets
 * the count). Writes "S3PROXY_PORT COUNTING_PORT" to the port file, then serves until killed.
 *
 * <p>usage: {@code BenchServer ROOT PORTFILE}
 */
public final class BenchServer {
    private BenchServer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: BenchServer ROOT PORTFILE");
            System.exit(2);
        }
        S3ProxyServer server = new S3ProxyServer(Path.of(args[0]));
        FaultProxy counting = new FaultProxy(server.endpoint());
        Path ports = Path.of(args[1]);
        Path partial = ports.resolveSibling(ports.getFileName() + ".tmp");
        Files.writeString(partial, server.endpoint().getPort() + " " + counting.endpoint().getPort() + "\n");
        Files.move(partial, ports);
        Thread.currentThread().join();
    }
}
