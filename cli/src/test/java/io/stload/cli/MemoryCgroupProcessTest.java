package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.host.RoomLedger;
import io.stload.testing.ChildJvm;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code stload} in its own JVM inside a memory cgroup of its own (v1, as root, on a host without swap; skipped
 * elsewhere), where the kernel kills a process at the limit instead of failing an allocation.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class MemoryCgroupProcessTest {
    private static final Path V1_MEMORY = Path.of("/sys/fs/cgroup/memory");
    private static final Pattern ADDRESS = Pattern.compile("^serving .* on http://127\\.0\\.0\\.1:(\\d+)$");
    private static final Pattern TOKEN = Pattern.compile("^reload token in (\\S+); reloads may name checkpoints under .*$");
    private static final int TENSORS = 24;
    private static final int TENSOR_BYTES = 4 << 20;

    @TempDir
    Path dir;

    private static boolean swapless() throws IOException {
        return Files.readAllLines(Path.of("/proc/meminfo")).stream()
                .anyMatch(l -> l.matches("SwapTotal:\\s+0 kB"));
    }

    /** A fresh v1 memory cgroup limited to {@code limitMiB}, with no swapping; the test is skipped where none can be. */
    private static Path group(long limitMiB) throws IOException {
        assumeTrue("root".equals(System.getProperty("user.name")) && Files.isWritable(V1_MEMORY) && swapless(),
                "needs root, the v1 memory controller and no swap");
        Path group = Files.createDirectory(V1_MEMORY.resolve("stload-test-" + ProcessHandle.current().pid()));
        Files.writeString(group.resolve("memory.limit_in_bytes"), String.valueOf(limitMiB << 20));
        Files.writeString(group.resolve("memory.swappiness"), "0");
        return group;
    }

    /** {@code stload load CHECKPOINT} in {@code group}: its exit status, its stderr in the file "stderr". */
    private int load(Path group, Path checkpoint) throws IOException, InterruptedException {
        Process load = inGroup(group, "load", checkpoint.toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        assertTrue(load.waitFor(60, TimeUnit.SECONDS), "the load did not end");
        return load.exitValue();
    }

    /** A load's refusal for want of memory: one line. */
    private static void assertRefusal(String stderr) {
        assertTrue(stderr.startsWith("error: OutOfMemory: the load does not fit in host memory")
                && stderr.strip().lines().count() == 1, stderr);
    }

    /** Removes the group, empty once its processes have ended, and the ledger its loads shared. */
    private static void remove(Path group) throws IOException {
        Files.delete(group);
        Files.deleteIfExists(RoomLedger.fileOf(group).orElseThrow());
    }

    /** {@code stload ARGS} in its own JVM that enters {@code group} first, its stderr to the file "stderr". */
    private ProcessBuilder inGroup(Path group, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", "-c",
                "echo $$ > " + group.resolve("cgroup.procs") + " && exec \"$0\" \"$@\""));
        command.addAll(ChildJvm.main(Main.class).args(args).command());
        return new ProcessBuilder(command).redirectError(dir.resolve("stderr").toFile());
    }

    /** 96 MiB in 24 tensors of random bytes, the same names and shapes for every seed. */
    private Path checkpoint(String name, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        List<TensorData> tensors = new ArrayList<>();
        for (int i = 0; i < TENSORS; i++) {
            byte[] bytes = new byte[TENSOR_BYTES];
            random.nextBytes(bytes);
            tensors.add(new TensorData("w." + i, DType.U8, new long[] {TENSOR_BYTES / 4096, 4096}, bytes));
        }
        Path folder = Files.createDirectories(dir.resolve(name));
        SafetensorsWriter.write(folder.resolve("model.safetensors"), Map.of(), tensors);
        return folder;
    }

    /**
     * A host load is refused up front where the room the cgroup leaves holds its bytes but not also what the process
     * runs in. Let in cold, such a load filled the group with its tensors, the kernel evicted the runtime's own code,
     * and the load crawled (14 s for these 96 MiB at this limit) or was killed (10 MiB lower). With the room it needs,
     * the same load loads.
     */
    @Test
    void aLoadTheCgroupCannotRunBesideItsBytesIsRefusedAndOneWithRoomLoads() throws Exception {
        Path a = checkpoint("a", 1);
        Path group = group(160);
        try {
            int code = load(group, a);
            String err = Files.readString(dir.resolve("stderr"));
            assertEquals(4, code, err);
            assertRefusal(err);

            Files.writeString(group.resolve("memory.limit_in_bytes"), String.valueOf(256L << 20));
            assertEquals(0, load(group, a), Files.readString(dir.resolve("stderr")));
        } finally {
            remove(group);
        }
    }

    /**
     * Two loads started together in one cgroup, as the ranks of a node in one container: each alone fits, both do
     * not. Each used to count all of the room as its own, and both went on until the kernel killed one or crawled;
     * now one loads, and the other is refused up front, for what the first holds or has still to allocate (or loads,
     * where the first has ended by then).
     */
    @Test
    void loadsStartedTogetherInOneCgroupShareItsRoom() throws Exception {
        Path a = checkpoint("a", 1);
        Path group = group(256);
        try {
            List<Process> loads = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                loads.add(inGroup(group, "load", a.toString()).redirectError(dir.resolve("stderr" + r).toFile())
                        .start());
            }
            List<Integer> codes = new ArrayList<>();
            StringBuilder errors = new StringBuilder();
            for (int r = 0; r < 2; r++) {
                assertTrue(loads.get(r).waitFor(60, TimeUnit.SECONDS), "load " + r + " did not end");
                codes.add(loads.get(r).exitValue());
                errors.append(Files.readString(dir.resolve("stderr" + r)));
            }
            // Where the first has ended before the second plans, both load; neither is ever killed.
            assertTrue(codes.contains(0) && codes.stream().allMatch(c -> c == 0 || c == 4), codes + " " + errors);
            if (!errors.isEmpty()) {
                assertRefusal(errors.toString());
            }
        } finally {
            remove(group);
        }
    }

    /**
     * The group's ledger: a load under way keeps its share of the room until it ends (here one of 1 TiB, for a live
     * process), while a line left by a process that has ended is passed over.
     */
    @Test
    void aLoadUnderWayKeepsItsShareOfTheRoomAndAnEndedOneDoesNot() throws Exception {
        Path a = checkpoint("a", 1);
        Path group = group(256);
        Path ledger = RoomLedger.fileOf(group).orElseThrow();
        Process ended = new ProcessBuilder("true").start();
        ended.waitFor();
        Process live = new ProcessBuilder("sleep", "60").start();
        try {
            Files.writeString(ledger, line(ended, 1L << 40) + line(live, 1L << 40));
            int code = load(group, a);
            String err = Files.readString(dir.resolve("stderr"));
            assertEquals(4, code, err);
            assertTrue(err.startsWith("error: OutOfMemory: the load does not fit in host memory") && err.contains(
                    "beside what 1 other load(s) in the group still have to allocate (1.0 TiB"), err);

            live.destroy();
            assertTrue(live.waitFor(10, TimeUnit.SECONDS));
            assertEquals(0, load(group, a), Files.readString(dir.resolve("stderr")));
            assertEquals("", Files.readString(ledger), "each load takes its line out, and the dead are dropped");
            try (var beside = Files.list(ledger.getParent())) {
                assertEquals(List.of(), beside.filter(f -> f.getFileName().toString()
                        .startsWith(ledger.getFileName() + ".")).toList(), "and the mark it held while under way");
            }
        } finally {
            live.destroyForcibly();
            remove(group);
        }
    }

    /** A ledger line for a load of {@code bytes} by process {@code p} that has not grown since it was let in. */
    private static String line(Process p, long bytes) {
        long start = p.info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L);
        return p.pid() + " " + start + " 7 " + bytes + " " + (1L << 50) + "\n";
    }

    @Test
    void aReloadInPlaceStagesWithinTheRoomItsCgroupLeaves() throws Exception {
        Path a = checkpoint("a", 1);
        Path b = checkpoint("b", 2);
        Path group = group(288);
        Process serve = null;
        try {
            // 96 MiB served leave 192 MiB less the runtime's own of room; staging the 96 changed MiB and the read
            // blocks takes more than half of that, and fits within the limit.
            serve = inGroup(group, "serve", a.toString(), "--port", "0", "--reload-root", dir.toString()).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(serve.getInputStream(),
                    StandardCharsets.UTF_8));
            Matcher address = ADDRESS.matcher(String.valueOf(out.readLine()));
            assertTrue(address.matches(), address + Files.readString(dir.resolve("stderr")));
            Matcher token = TOKEN.matcher(String.valueOf(out.readLine()));
            assertTrue(token.matches(), token.toString());
            String base = "http://127.0.0.1:" + address.group(1);
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<String> reply = client.send(HttpRequest.newBuilder(URI.create(base + "/reload"))
                    .header("Authorization", "Bearer " + Files.readString(Path.of(token.group(1))).strip())
                    .timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"source\": \"" + b + "\", \"mode\": \"in_place\"}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, reply.statusCode(), reply.body());
            Map<String, Object> reloaded = JsonReplies.parse(reply.body());
            assertEquals(2L, reloaded.get("version"), reply.body());
            assertEquals(0L, reloaded.get("staged_bytes"), "written straight from the files: " + reply.body());
            HttpResponse<String> health = client.send(HttpRequest.newBuilder(URI.create(base + "/health"))
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode(), health.body());
            assertTrue(serve.isAlive(), "the server serves on");
        } finally {
            if (serve != null) {
                serve.destroy();
                assertTrue(serve.waitFor(30, TimeUnit.SECONDS), "serve did not stop on SIGTERM");
            }
            remove(group);
        }
    }
}
