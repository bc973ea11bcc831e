package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.CheckpointSource;
import io.stload.checkpoint.WaitPolicy;
import io.stload.s3.S3Location;
import io.stload.s3.S3Settings;
import io.stload.s3.S3Storage;
import io.stload.store.WeightSource;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Option;

/** Where a checkpoint comes from: a path, or a repo id in the hub cache, and how long to wait for a download. */
final class SourceFlags implements CheckedFlags {
    static final String PATH_HELP = "A .safetensors file, a checkpoint directory, a hub repo id org/name[@revision], "
            + "or s3://bucket/prefix/ (or s3://bucket/key.safetensors).";

    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m|h)?");

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Hub cache for repo ids (default: where huggingface_hub keeps it: HF_HUB_CACHE, else HF_HOME/hub, "
                    + "else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub).")
    Path cacheDir;

    @Option(names = "--wait-timeout", paramLabel = "DURATION", defaultValue = "10m",
            description = "How long to wait for a download in progress, e.g. 90s, 10m; at most 168h "
                    + "(default: ${DEFAULT-VALUE}).")
    String waitTimeout;

    @Option(names = "--s3-endpoint", paramLabel = "URL",
            description = "An S3-compatible endpoint (MinIO, Ceph RGW, S3Proxy), addressed path-style (default: "
                    + "AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS).")
    URI s3Endpoint;

    @Option(names = "--s3-region", paramLabel = "REGION",
            description = "The bucket's region (default: the AWS default chain: AWS_REGION, profile, instance).")
    String s3Region;

    @Option(names = "--s3-part-size", paramLabel = "SIZE", description = "Bytes per ranged GET (default: 8MiB).")
    String s3PartSize;

    @Option(names = "--s3-concurrency", paramLabel = "N", description = "Ranged GETs in flight (default: 16).")
    Integer s3Concurrency;

    @Option(names = "--s3-progress-timeout", paramLabel = "DURATION",
            description = "A HEAD or LIST unanswered this long, or a GET past this plus its bytes at --s3-min-rate, is cut"
                    + " and retried (6 attempts), e.g. 10s, 500ms (default: 10s).")
    String s3ProgressTimeout;

    @Option(names = "--s3-min-rate", paramLabel = "SIZE",
            description = "The slowest a GET may be, bytes per second, e.g. 64KiB (default: 64KiB).")
    String s3MinRate;

    /** The connection an s3:// checkpoint is read through, open until {@link #close}. */
    private S3Storage s3;

    /** Waiting is logged on stderr, never on stdout, which belongs to the (JSON) output. */
    WaitPolicy waitPolicy(PrintWriter err) {
        WaitPolicy policy = WaitPolicy.of(timeout());
        long cap = Long.getLong(MAX_POLL_PROPERTY, -1);
        if (cap >= 0) {
            WaitPolicy.Sleeper sleeper = policy.sleeper();
            policy = new WaitPolicy(policy.timeout(), policy.nanoTime(),
                    nanos -> sleeper.sleep(Math.min(nanos, cap * 1_000_000)), policy.log());
        }
        return policy.withLog(line -> err.println("stload: " + Printable.escape(line)));
    }

    /**
     * A system property capping each pause, in milliseconds, between the polls of a wait (for a download in
     * progress, or a peer's deep check), whose back-off otherwise grows to 2 s: tests that run ranks as real
     * processes set it so that a rank sees a finished download at once. The deadline is unchanged.
     */
    static final String MAX_POLL_PROPERTY = "stload.wait.maxPollMillis";

    /** The flags of object storage, which a command that reads no s3:// checkpoint refuses. */
    static final String[] S3_FLAGS = {"--s3-endpoint", "--s3-region", "--s3-part-size", "--s3-concurrency",
        "--s3-progress-timeout", "--s3-min-rate"};

    /**
     * Refuses an {@code s3://} source for a command that works on local files only.
     *
     * @param pathOrRepo what the user gave
     * @param command    the command, as typed
     * @param instead    what to do instead, or null
     */
    static void localOnly(String pathOrRepo, String command, String instead) {
        if (S3Location.isS3(pathOrRepo)) {
            throw new StloadException(ErrorKind.Usage, null, command + " is not supported for s3:// sources"
                    + (instead == null ? "" : "; " + instead));
        }
    }

    /** Opens the checkpoint; tensors a shard holds that its index leaves out are noted on stderr. */
    Checkpoint open(String pathOrRepo, PrintWriter err) {
        Checkpoint ckpt = S3Location.isS3(pathOrRepo) ? openS3(pathOrRepo)
                : CheckpointSource.resolve(pathOrRepo, cacheDir, waitPolicy(err));
        // Shard and tensor names come from the files: escaped like every name printed.
        ckpt.unindexedTensors().forEach((shard, names) -> err.println("stload: note: " + Printable.escape(shard
                + " holds " + names.size() + " tensor(s) its index does not map to it, left out: " + listed(names))));
        return ckpt;
    }

    /**
     * The source a user names, opened anew each time (a store opens it, and each reload of it): a path, a repo id in
     * the hub cache (waiting for a download still in progress), or an s3:// URL through this command's connection.
     */
    WeightSource weightSource(String pathOrRepo, PrintWriter err) {
        return WeightSource.of(pathOrRepo, () -> open(pathOrRepo, err));
    }

    @Override
    public void check() {
        timeout();
        s3Settings();
    }

    private S3Settings s3Settings() {
        S3Settings d = S3Settings.DEFAULTS;
        return d.withEndpoint(s3Endpoint).withRegion(s3Region).withParts(
                s3PartSize == null ? d.partBytes() : FlagValue.size("--s3-part-size", s3PartSize, 1),
                s3Concurrency == null ? d.concurrency() : FlagValue.inRange("--s3-concurrency", s3Concurrency, 1, 1024))
                .withProgress(s3ProgressTimeout == null ? d.progressTimeout()
                                : duration("--s3-progress-timeout", s3ProgressTimeout, "1ms", "1h"),
                        s3MinRate == null ? d.minBytesPerSecond() : FlagValue.size("--s3-min-rate", s3MinRate, 1));
    }

    private Checkpoint openS3(String url) {
        S3Location location = S3Location.parse(url);
        S3Settings settings = s3Settings();
        synchronized (this) {
            if (s3 == null) {
                s3 = S3Storage.connect(settings); // one connection for every checkpoint a command opens
            }
        }
        return s3.open(location);
    }

    private static String listed(List<String> names) {
        int shown = Math.min(3, names.size());
        return String.join(", ", names.subList(0, shown).stream().map(n -> "`" + n + "`").toList())
                + (names.size() > shown ? ", ..." : "");
    }

    /** Closes the connection to object storage, if a checkpoint was opened there. */
    synchronized void close() {
        if (s3 != null) {
            s3.close();
            s3 = null;
        }
    }

    /** At most a week: far below where a deadline in nanoseconds would overflow. */
    Duration timeout() {
        return duration("--wait-timeout", waitTimeout, "0s", "168h");
    }

    /** A duration from {@code least} to {@code most}, both written as the flag takes them (a week: 168h). */
    static Duration duration(String flag, String value, String least, String most) {
        Duration d = duration(flag, value);
        if (d.compareTo(duration(flag, least)) < 0 || d.compareTo(duration(flag, most)) > 0) {
            throw FlagValue.usage(flag + ": must be from " + least + " to " + most + ", not " + value);
        }
        return d;
    }

    /** {@code 500ms}, {@code 90s} (or {@code 90}), {@code 10m}, {@code 1h}; else a usage error naming the flag. */
    static Duration duration(String flag, String value) {
        Matcher m = DURATION.matcher(value.strip());
        if (!m.matches()) {
            throw new StloadException(ErrorKind.Usage, null, flag + ": not a duration: `" + value
                    + "` (e.g. 90s, 10m, 1h)");
        }
        long n = Long.parseLong(m.group(1)); // at most 9 digits: no unit below overflows a Duration
        return switch (m.group(2) == null ? "s" : m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofSeconds(n);
        };
    }
}
