package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Tensor;
import io.stload.nativeio.FileChecks;
import io.stload.plan.Sizes;
import io.stload.s3.S3Location;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stload serve PATH --port P}: a reference host application, serving tensors and hot reloads over HTTP. */
@Command(name = "serve", description = {
        "Serve a checkpoint over HTTP until stopped: GET /tensors/{name}, POST /reload {\"source\": ..., \"mode\": "
                + "\"beside\"|\"in_place\", ...} and POST /update_weights_from_disk {\"path\": ..., \"quiesce\": "
                + "true|false} (with Authorization: Bearer TOKEN), GET /health. "
                + "Prints the address it listens on and where the reload token is."})
final class ServeCommand extends StloadCommand {
    @Parameters(paramLabel = "PATH", description = SourceFlags.PATH_HELP)
    String path;

    @Option(names = "--port", paramLabel = "PORT", required = true, description = "TCP port; 0 picks a free one.")
    int port;

    @Option(names = "--bind", paramLabel = "HOST", defaultValue = "127.0.0.1",
            description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--allow-remote",
            description = "Allow a --bind address other than loopback (anyone who can reach it reads the tensors).")
    boolean allowRemote;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "Read the reload token from FILE (default: a new random one, written to a file only this "
                    + "user can read, named at start).")
    Path tokenFile;

    @Option(names = "--reload-root", paramLabel = "DIR",
            description = "Reloads may only name local checkpoints under DIR (default: the folder holding a local "
                    + "PATH; none for a repo id or an s3:// PATH).")
    Path reloadRoot;

    @Option(names = "--reload-s3", paramLabel = "URL",
            description = "Reloads may name s3:// checkpoints under this prefix, s3://bucket/prefix/ (default: the "
                    + "prefix holding an s3:// PATH; none otherwise). Repo ids are reloaded from --cache-dir.")
    String reloadS3;

    @Option(names = "--staging-bound", paramLabel = "SIZE", defaultValue = "1GiB",
            description = "A reload in place stages the changed bytes in at most this much host memory before it "
                    + "overwrites the serving ones; more is written straight from the files (default: ${DEFAULT-VALUE}).")
    String stagingBound;

    @Option(names = "--memory-budget", paramLabel = "SIZE",
            description = "Refuse a reload when the versions held plus the new one would exceed this.")
    String memoryBudget;

    @Option(names = "--quiesce-timeout", paramLabel = "SECONDS", defaultValue = "30",
            description = "How long a quiesced reload waits for reads in flight, at most 86400 "
                    + "(default: ${DEFAULT-VALUE}).")
    double quiesceTimeout;

    /** The longest --quiesce-timeout, in seconds: a day. */
    static final double MAX_QUIESCE_SECONDS = 86_400;

    @Mixin
    LoadFlags flags;

    @Mixin
    SourceFlags source;

    @Override
    @SuppressWarnings("try") // the shutdown hook is a resource for its removal; it closes the others itself
    public Integer call() throws InterruptedException {
        WeightServer.requireLimits(System::getProperty);
        FlagValue.inRange("--port", port, 0, 65535);
        FlagValue.inRange("--quiesce-timeout", quiesceTimeout, 0, MAX_QUIESCE_SECONDS);
        long budget = memoryBudget == null ? Long.MAX_VALUE
                : FlagValue.parse("--memory-budget", memoryBudget, Sizes::parse);
        InetSocketAddress address = new InetSocketAddress(bind, port);
        if (address.isUnresolved()) {
            throw new StloadException(ErrorKind.Usage, null, "cannot resolve --bind " + bind);
        }
        if (address.getAddress().isLoopbackAddress()) {
            if (allowRemote) {
                // A launcher may pass it with a --bind that is loopback on some hosts only (a hostname in /etc/hosts).
                err().println("stload: note: --allow-remote: --bind " + bind + " is a loopback address, which nothing"
                        + " beyond this host reaches");
            }
        } else {
            if (!allowRemote) {
                throw new StloadException(ErrorKind.Usage, null, "--bind " + bind + " listens beyond this host, where "
                        + "anyone who can reach the port reads the tensors; add --allow-remote if that is meant");
            }
            err().println("warning: serving on " + bind + ", beyond this host: anyone who can "
                    + "reach the port reads the tensors (reloads still need the token)");
        }
        long staging = FlagValue.parse("--staging-bound", stagingBound, Sizes::parse);
        String s3Prefix = s3Prefix();
        PrintWriter out = out();
        PrintWriter err = err();
        WeightSource served = source.weightSource(path, err);
        try (ReloadToken token = tokenFile == null ? ReloadToken.generate() : ReloadToken.read(tokenFile);
             WeightStore<Tensor> store = WeightStore.open(served, StoreMemory.host(), flags.options(served), budget);
             WeightServer server = listen(store, new ReloadSources(guard(token),
                     named -> source.weightSource(named, err), s3Prefix), address, staging);
             // The JVM may halt before this thread gets to close anything: the hook also deletes the token file.
             ShutdownHook stopOnExit = new ShutdownHook(() -> {
                 server.close();
                 token.close();
             })) {
            InetSocketAddress bound = server.address();
            out.printf("serving %s (version %d, %s) on http://%s:%d%n", path, store.version(),
                    Sizes.human(store.memoryBytes()), hostForUrl(bound), bound.getPort());
            out.printf("reload token in %s; reloads may name checkpoints under %s%s%n", token.file(),
                    server.reloadRoot() == null ? "no local folder" : server.reloadRoot(),
                    s3Prefix == null ? "" : " and " + s3Prefix);
            out.flush();
            server.awaitClose();
        } finally {
            source.close();
        }
        return 0;
    }

    /** Where S3 reloads may come from: the flag's prefix, else the prefix holding an s3:// PATH, else nowhere. */
    private String s3Prefix() {
        String prefix = reloadS3;
        if (prefix == null && S3Location.isS3(path)) {
            String trimmed = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
            prefix = trimmed.substring(0, trimmed.lastIndexOf('/') + 1);
        }
        if (prefix == null) {
            return null;
        }
        prefix = prefix.endsWith("/") ? prefix : prefix + "/"; // a prefix names a folder, never an object
        S3Location at = FlagValue.parse("--reload-s3", prefix, S3Location::parse);
        return S3Location.SCHEME + at.bucket() + "/" + at.folder();
    }

    private ReloadGuard guard(ReloadToken token) {
        Path root = reloadRoot;
        if (root == null && !S3Location.isS3(path) && existsLocally(path)) {
            Path served = FileChecks.kernelPath(Path.of(path)).toAbsolutePath().normalize();
            root = served.getParent() != null ? served.getParent() : served;
        }
        try {
            return new ReloadGuard(token.value(), root);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Usage, root, "--reload-root must be an existing directory");
        }
    }

    private WeightServer listen(WeightStore<Tensor> store, ReloadSources sources, InetSocketAddress address,
                                long stagingBytes) {
        try {
            return WeightServer.start(store, store::reload, sources, address,
                    Duration.ofMillis(Math.round(quiesceTimeout * 1000)), stagingBytes);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, "cannot listen on " + address + ": " + e.getMessage(), e);
        }
    }

    private static boolean existsLocally(String path) {
        try {
            return Files.exists(Path.of(path));
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    private static String hostForUrl(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        return host.contains(":") ? "[" + host + "]" : host;
    }
}
