package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.format.Tensor;
import io.stload.plan.Sizes;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code stload serve PATH --port P}: a reference host application, serving tensors and hot reloads over HTTP. */
@Command(name = "serve", description = {
        "Serve a checkpoint over HTTP until stopped: GET /tensors/{name}, POST /update_weights_from_disk "
                + "{\"path\": ..., \"quiesce\": true|false} (with Authorization: Bearer TOKEN), GET /health. "
                + "Prints the address it listens on and where the reload token is."})
final class ServeCommand implements Callable<Integer> {
    @Parameters(paramLabel = "PATH", description = "A .safetensors file or a checkpoint directory.")
    Path path;

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
            description = "Reloads may only name checkpoints under DIR (default: the folder holding PATH).")
    Path reloadRoot;

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

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws InterruptedException {
        FlagValue.inRange("--port", port, 0, 65535);
        FlagValue.inRange("--quiesce-timeout", quiesceTimeout, 0, MAX_QUIESCE_SECONDS);
        long budget = memoryBudget == null ? Long.MAX_VALUE
                : FlagValue.parse("--memory-budget", memoryBudget, Sizes::parse);
        InetSocketAddress address = new InetSocketAddress(bind, port);
        if (address.isUnresolved()) {
            throw new StloadException(ErrorKind.Usage, null, "cannot resolve --bind " + bind);
        }
        if (!address.getAddress().isLoopbackAddress()) {
            if (!allowRemote) {
                throw new StloadException(ErrorKind.Usage, null, "--bind " + bind + " listens beyond this host, where "
                        + "anyone who can reach the port reads the tensors; add --allow-remote if that is meant");
            }
            spec.commandLine().getErr().println("warning: serving on " + bind + ", beyond this host: anyone who can "
                    + "reach the port reads the tensors (reloads still need the token)");
        }
        PrintWriter out = spec.commandLine().getOut();
        try (ReloadToken token = tokenFile == null ? ReloadToken.generate() : ReloadToken.read(tokenFile);
             WeightStore<Tensor> store = WeightStore.open(path, flags.options(), budget);
             WeightServer server = listen(store, guard(token), address);
             // The JVM may halt before this thread gets to close anything: the hook also deletes the token file.
             ShutdownHook stopOnExit = new ShutdownHook(() -> {
                 server.close();
                 token.close();
             })) {
            InetSocketAddress bound = server.address();
            out.printf("serving %s (version %d, %s) on http://%s:%d%n", path, store.version(),
                    Sizes.human(store.memoryBytes()), hostForUrl(bound), bound.getPort());
            out.printf("reload token in %s; reloads may name checkpoints under %s%n", token.file(), server.reloadRoot());
            out.flush();
            server.awaitClose();
        }
        return 0;
    }

    private ReloadGuard guard(ReloadToken token) {
        Path served = path.toAbsolutePath().normalize();
        Path root = reloadRoot != null ? reloadRoot : served.getParent() != null ? served.getParent() : served;
        try {
            return new ReloadGuard(token.value(), root);
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Usage, root, "--reload-root must be an existing directory");
        }
    }

    private WeightServer listen(WeightStore<Tensor> store, ReloadGuard guard, InetSocketAddress address) {
        try {
            return WeightServer.start(store, guard, address, Duration.ofMillis(Math.round(quiesceTimeout * 1000)));
        } catch (IOException e) {
            throw new StloadException(ErrorKind.Io, null, "cannot listen on " + address + ": " + e.getMessage(), e);
        }
    }

    private static String hostForUrl(InetSocketAddress a) {
        String host = a.getAddress().getHostAddress();
        return host.contains(":") ? "[" + host + "]" : host;
    }
}
