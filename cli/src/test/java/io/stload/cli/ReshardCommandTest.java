package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;


import io.stload.checkpoint.Checkpoint;
import io.stload.checkpoint.TensorRef;
import io.stload.format.TensorDigest;
import io.stload.plan.Resharder;
import io.stload.testing.ChildJvm;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Optional;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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
        assertEquals("error: Usage: " + out + ": resharded for a world size of 2, not 4: load it with world size 2 "
                + "and a rank in 0..1", wrongSize.err.strip());

        Run rules = run("load", out, "--rank", "0", "--world-size", "2", "--partition", "auto");
        assertEquals(ExitCodes.USAGE, rules.exit);
        assertEquals("error: Usage: --partition does not apply to a resharded checkpoint, whose rank folders hold the"
                + " slices its own rules cut", rules.err.strip());

        Run root = run("inspect", out);
        assertEquals(ExitCodes.IO, root.exit);
        assertTrue(root.err.contains("holds rank folders written by reshard: name one (rank-00000/)"), root.err);

        Run taken = run("reshard", in, out, "--world-size", "2");
        assertEquals(ExitCodes.USAGE, taken.exit);
        assertEquals("error: Usage: " + out + ": exists and is not empty; choose a new folder", taken.err.strip());
        assertEquals(3, Files.list(Path.of(out)).count(), "the earlier output is untouched: two ranks, their record");

        Path file = Files.writeString(dir.resolve("afile"), "mine");
        Run underAFile = run("reshard", in, file.resolve("x").toString(), "--world-size", "2");
        assertEquals(ExitCodes.IO, underAFile.exit);
        assertEquals("error: Io: " + file.resolve("x") + ": cannot write: " + file + " already exists and is not a"
                + " directory", underAFile.err.strip());
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

    /** OUT a symlink to an empty folder: the folder it names is written, and the user's link stays as it was. */
    @Test
    void aSymlinkAsOutIsKeptAndItsTargetWritten() throws Exception {
        String in = dir.resolve("in").toString();
        assertEquals(0, run("gen", in, "--size", "1MiB", "--seed", "9").exit);
        Path target = Files.createDirectory(dir.resolve("elsewhere"));
        Path link = Files.createSymbolicLink(dir.resolve("out"), target);
        Run reshard = run("reshard", in, link.toString(), "--world-size", "2");
        assertEquals(0, reshard.exit, reshard.err);
        assertTrue(Files.isSymbolicLink(link), "the link was replaced");
        assertEquals(target, Files.readSymbolicLink(link));
        assertTrue(Files.isRegularFile(target.resolve("rank-00001/model.safetensors")));
        assertEquals(0, run("load", link.toString(), "--rank", "1", "--world-size", "2").exit);

        Path dangling = Files.createSymbolicLink(dir.resolve("dangling"), dir.resolve("nowhere"));
        Run refused = run("reshard", in, dangling.toString(), "--world-size", "2");
        assertEquals(ExitCodes.USAGE, refused.exit, refused.err);
        assertEquals("error: Usage: " + dangling + ": is a symlink to " + dir.resolve("nowhere")
                + ", which does not exist; choose a new folder", refused.err.strip());
        assertTrue(Files.isSymbolicLink(dangling) && !Files.exists(dir.resolve("nowhere")));
    }

    /**
     * A temporary tree a killed reshard left beside OUT is removed (and said so) by the next run, but only one that
     * holds reshard's marker naming a process that is gone; a look-alike of the user's stays.
     */
    @Test
    void anAbandonedTemporaryTreeIsRemovedAndNothingElse() throws Exception {
        String in = dir.resolve("in").toString();
        assertEquals(0, run("gen", in, "--size", "1MiB", "--seed", "9").exit);
        Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
        Path abandoned = Files.createDirectories(dir.resolve(".out.tmp-" + gone.pid() + "-5/rank-00000"));
        Files.writeString(abandoned.getParent().resolve(".stload-partial"), gone.pid() + " 0\n");
        Files.write(abandoned.resolve("model.safetensors"), new byte[4096]);
        Path mine = Files.createDirectories(dir.resolve(".out.tmp-" + gone.pid() + "-6"));
        Files.writeString(mine.resolve("notes.txt"), "no marker: not reshard's");
        Path alive = Files.createDirectories(dir.resolve(".out.tmp-" + ProcessHandle.current().pid() + "-7"));
        Files.writeString(alive.resolve(".stload-partial"), ProcessHandle.current().pid() + " "
                + ProcessHandle.current().info().startInstant().orElseThrow().toEpochMilli() + "\n");

        Run reshard = run("reshard", in, dir.resolve("out").toString(), "--world-size", "2");
        assertEquals(0, reshard.exit, reshard.err);
        assertEquals("stload: note: removed " + abandoned.getParent() + ", the partial output of an interrupted reshard",
                reshard.err.strip());
        assertFalse(Files.exists(abandoned.getParent()));
        assertTrue(Files.exists(mine.resolve("notes.txt")), "a folder without the marker is not reshard's");
        assertTrue(Files.exists(alive), "a tree of a process still running is its own business");
    }

    /** The signal cases' input, big enough to be stopped in the middle of: written once, since reshard only reads it. */
    @TempDir
    static Path shared;

    private static Path bigCheckpoint() {
        Path in = shared.resolve("in");
        if (!Files.exists(in)) {
            assertEquals(0, run("gen", in.toString(), "--size", "256MiB", "--shard-size", "64MiB").exit);
        }
        return in;
    }

    /** SIGTERM or SIGINT while reshard writes: the temporary tree is removed, and OUT never appears. */
    @ParameterizedTest
    @ValueSource(strings = {"TERM", "INT"})
    @Tag("slow")
    void aStoppedReshardLeavesNothing(String signal) throws Exception {
        assumeFalse(signal.equals("INT") && GenCommandTest.ignoresSigint(), "SIGINT is ignored here, so in the child");
        Path in = bigCheckpoint();
        Path out = dir.resolve("out");
        Process p = ChildJvm.main(Main.class).args("reshard", in.toString(), out.toString(), "--world-size", "2")
                .builder().redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(dir.resolve("stderr").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (temporaryTrees().isEmpty() || !holdsAShard(temporaryTrees().getFirst())) {
                assertTrue(p.isAlive(), "reshard ended before it was stopped: " + Files.readString(dir.resolve("stderr")));
                assertTrue(System.nanoTime() < deadline, "no temporary tree appeared");
                Thread.sleep(2); // polling a directory: there is no event to wait on
            }
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "reshard did not stop on SIG" + signal);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(List.of(), temporaryTrees());
        assertFalse(Files.exists(out));
    }

    private List<Path> temporaryTrees() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().startsWith(".out.tmp-")).toList();
        }
    }

    private static boolean holdsAShard(Path tree) {
        try (Stream<Path> all = Files.walk(tree)) {
            return all.anyMatch(f -> f.getFileName().toString().contains(".safetensors"));
        } catch (IOException | java.io.UncheckedIOException e) {
            return false; // changing under the walk
        }
    }

    /** More source shards than the process may open files: reshard keeps a bounded number open, as load does. */
    @Test
    @Tag("slow")
    void moreShardsThanDescriptorsReshard() throws Exception {
        Path in = Files.createDirectory(dir.resolve("many"));
        int shards = 400;
        StringBuilder index = new StringBuilder("{\"weight_map\": {");
        for (int i = 0; i < shards; i++) {
            String file = String.format("model-%05d-of-%05d.safetensors", i + 1, shards);
            io.stload.format.SafetensorsWriter.write(in.resolve(file), java.util.Map.of(), List.of(
                    new io.stload.format.SafetensorsWriter.TensorData("w." + i, io.stload.format.DType.U8,
                            new long[] {2, 8}, new byte[16])));
            index.append(i == 0 ? "" : ", ").append("\"w.").append(i).append("\": \"").append(file).append('"');
        }
        Files.writeString(in.resolve("model.safetensors.index.json"), index.append("}}"));
        Path out = dir.resolve("out");
        // The JVM holds a descriptor per jar it searched, up to one per class-path entry; 100 more leave room for
        // the runtime, the 64 source files reshard keeps open and its output, and far less than the 400 shards.
        int descriptors = System.getProperty("java.class.path").split(java.io.File.pathSeparator).length + 100;
        Process p = ChildJvm.main(Main.class).openFileLimit(descriptors)
                .args("reshard", in.toString(), out.toString(), "--world-size", "2").builder().redirectErrorStream(true)
                .redirectOutput(dir.resolve("output").toFile()).start();
        try {
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "reshard did not exit");
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), Files.readString(dir.resolve("output")));
        Run inspect = run("inspect", Resharder.rankFolder(out, 1).toString());
        assertEquals(0, inspect.exit, inspect.err);
        assertTrue(inspect.out.contains("\n" + shards + " tensors, "), inspect.out);
    }
}
