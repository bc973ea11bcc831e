package io.stload.cli;

import io.stload.Printable;
import io.stload.checkpoint.CheckpointVerifier;
import io.stload.checkpoint.Problem;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code stload verify PATH|REPO [--deep] [--json]}: everything {@code load} checks, without loading, and
 * with {@code --deep} the sha256 of every blob a load reads, every time. Each note and problem on its own line;
 * exit 0 clean (notes alone are clean), 1 otherwise. Changes no file of the checkpoint; the one file it may
 * create is its lock file in the hub cache's {@code .locks/<repo folder>/}.
 */
@Command(name = "verify", description = "Check a checkpoint without loading it (--deep: hash every sha256-named blob).")
final class VerifyCommand extends CheckpointCommand {
    @Option(names = "--deep", description = "Hash every blob named by its sha256 and compare.")
    boolean deep;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "4",
            description = "Files hashed at once (default: ${DEFAULT-VALUE}).")
    int threads;

    @Mixin
    JsonFlag json;

    @Override
    int run() throws InterruptedException {
        FlagValue.inRange("--threads", threads, 1, LoadFlags.MAX_THREADS);
        if (!deep) {
            refuseGiven("verify without --deep, which hashes nothing", "--threads");
        }
        PrintWriter out = out();
        SourceFlags.localOnly(path, "verify" + (deep ? " --deep" : ""),
                "`inspect` reads and checks every header of an s3:// checkpoint, and `load` checks every object's version");
        refuseGiven("verify, which reads no s3:// checkpoint", SourceFlags.S3_FLAGS);
        CheckpointVerifier.Result result = verify();
        if (json.on) {
            Json.print(out, g -> {
                g.writeStartObject();
                g.writeStringProperty("commit", result.commit());
                g.writeBooleanProperty("deep", deep);
                g.writeBooleanProperty("clean", result.clean());
                g.writeArrayPropertyStart("problems");
                for (Problem p : result.problems()) {
                    g.writeStartObject();
                    g.writeStringProperty("kind", p.kind().name());
                    g.writeStringProperty("file", p.file() == null ? null : p.file().toString());
                    g.writeStringProperty("detail", p.detail());
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeArrayPropertyStart("notes");
                for (String note : result.notes()) {
                    g.writeString(note);
                }
                g.writeEndArray();
                g.writeEndObject();
            });
        } else {
            result.notes().forEach(n -> out.println("note: " + Printable.escape(n)));
            result.problems().forEach(p -> out.println(Printable.escape(p.line())));
            out.println(result.clean()
                    ? "ok: no problems found" + (deep ? " (deep)" : "")
                    : result.problems().size() + " problem(s) found; nothing was changed");
        }
        return result.clean() ? 0 : ExitCodes.PROBLEMS_FOUND;
    }

    private CheckpointVerifier.Result verify() throws InterruptedException {
        try (HashProgressBar progress = new HashProgressBar(!json.on)) {
            return CheckpointVerifier.verify(path, source.cacheDir, deep, threads, source.waitPolicy(err()), progress);
        }
    }
}
