package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.TensorDigest;
import io.stload.plan.Resharder;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code reshard} then {@code load --rank}: each rank reads its own folder and gets the bytes it would have sliced. */
class ReshardCommandTest {
    private static final Pattern DIGESTS = Pattern.compile("\"digests\":\\{[^}]*}");

    @TempDir
    Path dir;

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(exit, out.toString(), err.toString());
    }

    private static String digests(Run load) {
        assertEquals(0, load.exit, load.err);
        Matcher m = DIGESTS.matcher(load.out);
        assertTrue(m.find(), load.out);
        return m.group();
    }

    @Test
    void eachRankLoadsFromItsFolderWhatItWouldHaveSlicedFromTheOriginal() {
        String in = dir.resolve("in").toString();
        String out = dir.resolve("out").toString();
        assertEquals(0, run("gen", in, "--size", "3MiB", "--shard-size", "1MiB", "--seed", "9").exit);
        Run reshard = run("reshard", in, out, "--world-size", "3");
        assertEquals(0, reshard.exit, reshard.err);
        assertTrue(reshard.out.contains("wrote 3 rank folder(s)"), reshard.out);

        for (int rank = 0; rank < 3; rank++) {
            String sliced = digests(run("load", in, "--rank", "" + rank, "--world-size", "3", "--digest", "--json"));
            Run fromFolder = run("load", out, "--rank", "" + rank, "--world-size", "3", "--digest", "--json");
            assertEquals(sliced, digests(fromFolder), "rank " + rank);
            assertTrue(fromFolder.out.contains("rank-0000" + rank + "/model.safetensors"), fromFolder.out);
            Run plan = run("plan", out, "--rank", "" + rank, "--world-size", "3");
            assertEquals(0, plan.exit, plan.err);
            assertTrue(plan.out.contains("rank " + rank + " of 3 (partition rules: replicate all)"), plan.out);
            assertTrue(plan.out.contains("\nmodel.safetensors: "), "one file, the rank folder's: " + plan.out);
        }
    }

    @Test
    void aMismatchedWorldSizeAndATakenFolderAreOneLineUsageErrors() throws Exception {
        String in = dir.resolve("in").toString();
        String out = dir.resolve("out").toString();
        assertEquals(0, run("gen", in, "--size", "1MiB", "--seed", "9").exit);
        assertEquals(0, run("reshard", in, out, "--world-size", "2").exit);

        Run wrongSize = run("load", out, "--rank", "0", "--world-size", "4");
        assertEquals(ExitCodes.USAGE, wrongSize.exit);
        assertEquals("error: Usage: " + out + ": resharded for a world size of 2 (rank-00000 ... rank-00001), not 4: "
                + "load it with world size 2", wrongSize.err.strip());

        Run taken = run("reshard", in, out, "--world-size", "2");
        assertEquals(ExitCodes.USAGE, taken.exit);
        assertEquals("error: Usage: " + out + ": exists and is not empty; choose a new folder", taken.err.strip());
        assertEquals(2, Files.list(Path.of(out)).count(), "the earlier output is untouched");
    }

    @Test
    void withDigestsEachRankFileRecordsTheSha256OfEachOfItsTensorsAsWritten() throws Exception {
        String in = dir.resolve("in").toString();
        Path out = dir.resolve("out");
        assertEquals(0, run("gen", in, "--size", "1MiB", "--shard-size", "512KiB", "--seed", "9").exit);
        Run reshard = run("reshard", in, out.toString(), "--world-size", "2", "--digests", "--shard-size", "256KiB");
        assertEquals(0, reshard.exit, reshard.err);
        for (int rank = 0; rank < 2; rank++) {
            try (Checkpoint ckpt = Checkpoint.open(Resharder.rankFolder(out, rank))) {
                assertTrue(ckpt.files().size() > 1, "sharded: " + ckpt.files().size());
                for (TensorRef t : ckpt.tensors().values()) {
                    byte[] bytes = ckpt.copy(t.name()).data().toArray(ValueLayout.JAVA_BYTE);
                    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
                    assertEquals(Optional.of(sha), TensorDigest.of(t.file(), t.name()), t.name());
                }
            }
        }
        Path plain = dir.resolve("plain");
        assertEquals(0, run("reshard", in, plain.toString(), "--world-size", "2").exit);
        try (Checkpoint ckpt = Checkpoint.open(Resharder.rankFolder(plain, 0))) {
            TensorRef any = ckpt.tensors().values().iterator().next();
            assertEquals(Optional.empty(), TensorDigest.of(any.file(), any.name()), "recorded only when asked");
        }
    }
}
