package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.modulepath.ApiSurface;
import io.stload.modulepath.NullProbe;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The error contract of io.stload.core held for io.stload.s3's API: a null the javadoc does not allow is a Usage
 * error. No server is needed: a connection starts its clients without a request, and no call here reads an object.
 */
class S3ApiMisuseTest {
    /** Calls whose javadoc takes null for the parameter named null; each returns or is a Usage error. */
    private static final Set<String> TAKES_NULL = Set.of(
            // "what the user gave, or null"
            "S3Location.isS3(null String)",
            // "null for AWS"; "null for the SDK's default chain"
            "new S3Settings(null URI, String, long, int, int, Duration, Duration, long)",
            "new S3Settings(URI, null String, long, int, int, Duration, Duration, long)",
            "S3Settings.withEndpoint(null URI)",
            "S3Settings.withRegion(null String)");

    private final NullProbe probe = new NullProbe(TAKES_NULL);
    private final Map<Class<?>, Supplier<?>> receivers = new LinkedHashMap<>();
    private S3Storage storage;

    @BeforeEach
    void samples() {
        // A server that is never asked: its port is the discard service's, and nothing here reads an object.
        S3Settings settings = S3Settings.DEFAULTS.withEndpoint(URI.create("http://localhost:9")).withRegion("us-east-1");
        storage = S3Storage.connect(settings);
        value(String.class, "s3://models/llama/");
        value(URI.class, URI.create("http://localhost:9"));
        value(Duration.class, Duration.ofSeconds(1));
        value(S3Settings.class, settings);
        value(S3Location.class, S3Location.parse("s3://models/llama/"));
        S3Settings d = S3Settings.DEFAULTS;
        probe.arguments("new S3Settings(URI, String, long, int, int, Duration, Duration, long)",
                () -> new Object[] {URI.create("http://localhost:9"), "us-east-1", d.partBytes(), d.concurrency(),
                        d.maxAttempts(), d.backoff(), d.progressTimeout(), d.minBytesPerSecond()});
        receive(S3Settings.class, settings);
        receive(S3Storage.class, storage);
    }

    @AfterEach
    void close() {
        storage.close();
    }

    @Test
    void everyPublicConstructorAndStaticMethodRefusesNullAsUsage() throws Exception {
        NullProbe.assertNoneBroken(probe.statics(ApiSurface.typesOfPackage(S3Storage.class)));
    }

    @Test
    void everyPublicMethodOfTheReceiversRefusesNullAsUsage() {
        SortedMap<String, String> broken = new TreeMap<>();
        receivers.forEach((type, receiver) -> broken.putAll(probe.methods(type, receiver)));
        NullProbe.assertNoneBroken(broken);
    }

    @Test
    void theSamplesAloneAreNoUsageErrorSoTheProbesProveSomething() throws Exception {
        probe.statics(ApiSurface.typesOfPackage(S3Storage.class));
        receivers.forEach(probe::methods);
        assertEquals(Map.of(), probe.masked(), "calls whose ordinary arguments are a Usage error already");
        assertEquals(List.of(), probe.notMade(TAKES_NULL), "TAKES_NULL names calls no member makes");
    }

    @Test
    void everyTypeWithMethodsTakingAReferenceHasAReceiver() throws Exception {
        List<String> missing = new ArrayList<>();
        for (Class<?> type : ApiSurface.typesOfPackage(S3Storage.class)) {
            if (!NullProbe.instanceMethods(type).isEmpty() && !receivers.containsKey(type)) {
                missing.add(NullProbe.typeName(type));
            }
        }
        assertEquals(List.of(), missing, "types with no receiver");
    }

    private <T> void value(Class<T> type, T sample) {
        probe.sample(type, () -> sample);
    }

    private <T> void receive(Class<T> type, T receiver) {
        receivers.put(type, () -> receiver);
    }
}
