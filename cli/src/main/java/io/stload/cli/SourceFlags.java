package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.CheckpointSource;
import io.stload.checkpoint.WaitPolicy;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Option;

/** Where a checkpoint comes from: a path, or a repo id in the hub cache, and how long to wait for a download. */
final class SourceFlags {
    static final String PATH_HELP = "A .safetensors file, a checkpoint directory, or a hub repo id org/name[@revision].";

    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h)?");

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Hub cache for repo ids (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).")
    Path cacheDir;

    @Option(names = "--wait-timeout", paramLabel = "DURATION", defaultValue = "10m",
            description = "How long to wait for a download in progress, e.g. 90s, 10m (default: ${DEFAULT-VALUE}).")
    String waitTimeout;

    /** Waiting is logged on stderr, never on stdout, which belongs to the (JSON) output. */
    WaitPolicy waitPolicy(PrintWriter err) {
        return WaitPolicy.of(timeout()).withLog(line -> err.println("stload: " + Printable.escape(line)));
    }

    /** Opens the checkpoint; tensors a shard holds that its index leaves out are noted on stderr. */
    Checkpoint open(String pathOrRepo, PrintWriter err) {
        Checkpoint ckpt = CheckpointSource.resolve(pathOrRepo, cacheDir, waitPolicy(err));
        ckpt.unindexedTensors().forEach((shard, names) -> err.println("stload: note: " + shard + " holds "
                + names.size() + " tensor(s) its index does not map to it, left out: " + listed(names)));
        return ckpt;
    }

    private static String listed(List<String> names) {
        int shown = Math.min(3, names.size());
        return String.join(", ", names.subList(0, shown).stream().map(n -> "`" + n + "`").toList())
                + (names.size() > shown ? ", ..." : "");
    }

    Duration timeout() {
        Matcher m = DURATION.matcher(waitTimeout.strip());
        if (!m.matches()) {
            throw new StloadException(ErrorKind.Usage, null, "--wait-timeout: not a duration: `" + waitTimeout
                    + "` (e.g. 90s, 10m, 1h)");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2) == null ? "s" : m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofSeconds(n);
        };
    }
}
