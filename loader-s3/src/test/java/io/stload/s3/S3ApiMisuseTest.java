package io.stload.s3;


import io.stload.modulepath.ApiSurface;
import io.stload.modulepath.ModuleApiMisuseTest;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * The error contract of io.stload.core held for io.stload.s3's API: a null the javadoc does not allow is a Usage
 * error. No server is needed: a connection starts its clients without a request, and no call here reads an object.
 */
class S3ApiMisuseTest extends ModuleApiMisuseTest {
    /** Calls whose javadoc takes null for the parameter named null; each returns or is a Usage error. */
    private static final Set<String> TAKES_NULL = Set.of(
            // "what the user gave, or null"
            "S3Location.isS3(null String)",
            // "null for AWS"; "null for the SDK's default chain"
            "new S3Settings(null URI, String, long, int, int, Duration, Duration, long)",
            "new S3Settings(URI, null String, long, int, int, Duration, Duration, long)",
            "S3Settings.withEndpoint(null URI)",
            "S3Settings.withRegion(null String)");

    private S3Storage storage;

    S3ApiMisuseTest() {
        super(TAKES_NULL, Map.of());
    }

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

    @Override
    protected List<Class<?>> apiTypes() throws IOException {
        return ApiSurface.typesOfPackage(S3Storage.class);
    }
}
