package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.format.DType;
import io.stload.format.SafetensorsWriter;
import io.stload.format.SafetensorsWriter.TensorData;
import io.stload.format.Tensor;
import io.stload.plan.LoadOptions;
import io.stload.s3.S3Location;
import io.stload.s3.S3ProxyServer;
import io.stload.s3.S3Settings;
import io.stload.s3.S3Storage;
import io.stload.store.Lease;
import io.stload.store.ReloadDelta.Reason;
import io.stload.store.ReloadMatrix;
import io.stload.store.ReloadOptions;
import io.stload.store.ReloadOptions.Mode;
import io.stload.store.ReloadResult;
import io.stload.store.StepCheckpoints;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import io.stload.store.WeightStore;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Weight stores reloading from S3 prefixes on a real S3 server (S3Proxy on loopback): the reload matrix for host
 * memory and the caller's buffers, beside and in place, and what a lease pins (each object's ETag), which also tells
 * an unchanged object from a rewritten one when the checkpoint records no digests. Here rather than in loader-s3,
 * whose load test counts the CRT's native objects from the first client its JVM starts.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class S3ReloadTest {
    private static final String BUCKET = "models";
    private static final S3Settings SETTINGS = S3Settings.DEFAULTS.withParts(64 << 10, 4)
            .withRetries(4, Duration.ofMillis(5));

    @TempDir
    static Path tmp;
    static S3ProxyServer server;
    static S3Storage s3;

    @BeforeAll
    static void start() throws Exception {
        server = new S3ProxyServer(tmp.resolve("s3"));
        s3 = S3Storage.connect(SETTINGS.withEndpoint(server.endpoint()));
    }

    @AfterAll
    static void stop() throws Exception {
        s3.close();
        server.close();
    }

    /** Publishes {@code dir}'s files under {@code s3://models/<prefix>/}, each with an ETag. */
    private static WeightSource put(Path dir, String prefix) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                server.put(BUCKET, prefix + "/" + f.getFileName(), f);
            }
        }
        String url = "s3://" + BUCKET + "/" + prefix + "/";
        return WeightSource.of(url, () -> s3.open(S3Location.parse(url)));
    }

    /** Step {@code k} under {@code s3://models/<run>/step-k/}. */
    private static ReloadMatrix.SourceUnderTest prefixes(String run) {
        return k -> {
            Path written = tmp.resolve(run + "-step-" + k);
            StepCheckpoints.write(written, k);
            return put(written, run + "/step-" + k);
        };
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void hostMemoryFromS3Prefixes(Mode mode) throws Exception {
        ReloadMatrix.run(ReloadMatrix.host(), prefixes("host-" + mode), mode);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void callersBuffersFromS3Prefixes(Mode mode) throws Exception {
        ReloadMatrix.run(ReloadMatrix.caller(), prefixes("caller-" + mode), mode);
    }

    @Test
    void aLeasePinsEachObjectsETagAndWithoutDigestsTheSameETagCarriesOver() throws Exception {
        Path file = tmp.resolve("plain/model.safetensors");
        Files.createDirectories(file.getParent());
        writePlain(file, (byte) 1);
        WeightSource source = put(file.getParent(), "plain");
        try (WeightStore<Tensor> store = WeightStore.open(source, StoreMemory.host(), LoadOptions.DEFAULTS,
                Long.MAX_VALUE)) {
            String etag;
            try (Lease<Tensor> lease = store.lease()) {
                assertEquals("s3://models/plain/", lease.source().source());
                etag = lease.source().files().get("model.safetensors");
                assertTrue(etag != null && !etag.isBlank(), lease.source().toString());
            }
            ReloadResult same = store.reload(source, ReloadOptions.IMMEDIATE);
            assertEquals(Map.of(Reason.SAME_FILE, 2), same.delta().tensorsByReason(), same::toString);
            assertEquals(0, same.delta().bytesFromStorage(), "nothing fetched");

            writePlain(file, (byte) 2);
            put(file.getParent(), "plain"); // the same key, rewritten: another ETag
            ReloadResult rewritten = store.reload(source, ReloadOptions.inPlace(Duration.ofSeconds(30)));
            assertEquals(Map.of(Reason.FILE_CHANGED, 2), rewritten.delta().tensorsByReason(), rewritten::toString);
            try (Lease<Tensor> lease = store.lease()) {
                assertTrue(!etag.equals(lease.source().files().get("model.safetensors")), lease.source().toString());
                byte[] bytes = lease.tensor("w").data().toArray(ValueLayout.JAVA_BYTE);
                assertTrue(Arrays.equals(filled(bytes.length, (byte) 2), bytes));
            }
        }
    }

    private static byte[] filled(int n, byte b) {
        byte[] a = new byte[n];
        Arrays.fill(a, b);
        return a;
    }

    private static void writePlain(Path file, byte fill) throws IOException {
        SafetensorsWriter.write(file, null, List.of(
                new TensorData("w", DType.F32, new long[] {256}, filled(1024, fill)),
                new TensorData("b", DType.F32, new long[] {16}, filled(64, fill))));
    }
}
