package io.stload.modulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.StloadException;
import io.stload.load.Loader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The error contract of {@link StloadException}, held for every public member of io.stload.core's exported packages:
 * a null the javadoc does not allow is a Usage error, never a NullPointerException, an IllegalArgumentException or an
 * Internal error. {@link NullProbe} makes the calls: every public constructor and static method, and the public
 * methods of a receiver of each API type that has any taking a reference ({@link CoreApiFixture} has the samples and
 * the receivers).
 */
class ApiMisuseTest {
    /** Calls whose javadoc takes null for the parameter named null; each returns or is a Usage error. */
    private static final Set<String> TAKES_NULL = Set.of(
            // "the file it concerns, or null"; "the exception behind it, or null"
            "new StloadException(ErrorKind, null Path, String)",
            "new StloadException(ErrorKind, null Path, String, Throwable)",
            "new StloadException(ErrorKind, Path, String, null Throwable)",
            // "the text, or null" (null for null)
            "Printable.escape(null String)",
            // "the __metadata__ map, or null for none"
            "SafetensorsWriter.header(null Map, List)",
            "SafetensorsWriter.write(Path, null Map, List)",
            "SafetensorsWriter.write(Path, null Map, List, SafetensorsWriter.DataSource)",
            "SafetensorsWriter.write(Path, null Map, List, SafetensorsWriter.DataSource, boolean)",
            "ShardedWriter.write(Path, null Map, List, SafetensorsWriter.DataSource, long)",
            "ShardedWriter.write(Path, null Map, List, SafetensorsWriter.DataSource, long, boolean)",
            // "the name of the one file to open, or null for the whole folder"
            "Checkpoint.open(RemoteFolder, null String)",
            "Checkpoint.open(RemoteFolder, null String, UnknownDtypes)",
            // "the hub cache ..., or null for the one the environment names"
            "CheckpointSource.resolve(String, null Path, WaitPolicy)",
            "CheckpointSource.resolve(String, null Path, WaitPolicy, UnknownDtypes)",
            "CheckpointVerifier.verify(String, null Path, boolean, int, WaitPolicy, CheckpointVerifier.HashProgress)",
            "WeightSource.resolve(String, null Path, WaitPolicy)",
            // "the commit checked for a hub repo, else null"; "the file concerned, or null"
            "new CheckpointVerifier.Result(null String, List, List)",
            "new Problem(ErrorKind, null Path, String)",
            // "null when native calls work"
            "new HostFacts(long, String, null String)",
            "new HostFacts(long, String, null String, long)",
            // "may be empty, or null for empty"
            "new PartitionRule.Part(null String, long, long, boolean)",
            // "what happened that the plan did not say, or null"
            "new LoadReport.FileReport(Path, String, LoadStrategy, DecisionRule, List, null String, long)",
            "LoadReport.FileReport.of(FilePlan, String, null String)",
            // "why the load failed, or null on success"
            "HostSink.end(null Throwable)",
            "CallerBuffers.end(null Throwable)",
            "StreamingSink.end(null Throwable)");

    /** API types with methods taking a reference that no receiver here stands for, and why. */
    private static final Map<String, String> NOT_PROBED = Map.of(
            "TensorLookup", "an interface: its default methods are probed through LoadedWeights and Lease",
            "Destination", "callers implement it; the loader's own (HostSink, CallerBuffers, StreamingSink) are probed",
            "RemoteFolder", "callers implement it (loader-s3 too, in a class of its own that is not API)",
            "RangeSource", "callers implement it, for their RemoteFolder",
            "ShardedWriter.Filler", "the caller's code, which the loader calls",
            "SafetensorsWriter.DataSource", "the caller's code, which the loader calls",
            "LoadListener", "the caller's code, which the loader calls",
            "TensorConsumer", "the caller's code, which the loader calls");

    @TempDir
    Path dir;

    @Test
    void everyPublicConstructorAndStaticMethodRefusesNullAsUsage() throws Exception {
        try (CoreApiFixture f = new CoreApiFixture(dir, TAKES_NULL)) {
            NullProbe.assertNoneBroken(f.probe.statics(ApiSurface.types(Loader.class)));
        }
    }

    @Test
    void everyPublicMethodOfTheReceiversRefusesNullAsUsage() throws Exception {
        try (CoreApiFixture f = new CoreApiFixture(dir, TAKES_NULL)) {
            NullProbe.assertNoneBroken(f.methods());
        }
    }

    @Test
    void theSamplesAloneAreNoUsageErrorSoTheProbesProveSomething() throws Exception {
        try (CoreApiFixture f = new CoreApiFixture(dir, TAKES_NULL)) {
            f.probe.statics(ApiSurface.types(Loader.class));
            f.methods();
            assertEquals(Map.of(), f.probe.masked(),
                    "calls whose ordinary arguments are a Usage error already: fix their samples");
        }
    }

    @Test
    void everyListedCallIsOneTheApiMakes() throws Exception {
        try (CoreApiFixture f = new CoreApiFixture(dir, TAKES_NULL)) {
            f.probe.statics(ApiSurface.types(Loader.class));
            f.methods();
            assertEquals(List.of(), f.probe.notMade(TAKES_NULL), "TAKES_NULL names calls no member makes");
        }
    }

    @Test
    void everyTypeWithMethodsTakingAReferenceHasAReceiver() throws Exception {
        try (CoreApiFixture f = new CoreApiFixture(dir, TAKES_NULL)) {
            List<String> missing = new ArrayList<>();
            for (Class<?> type : ApiSurface.types(Loader.class)) {
                String name = NullProbe.typeName(type);
                if (!NullProbe.instanceMethods(type).isEmpty() && !f.receivers.containsKey(type)
                        && !NOT_PROBED.containsKey(name)) {
                    missing.add(name);
                }
            }
            assertEquals(List.of(), missing, "types with no receiver: add one, or say why not in NOT_PROBED");
        }
    }
}
