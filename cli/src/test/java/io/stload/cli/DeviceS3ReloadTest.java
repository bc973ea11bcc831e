package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.cuda.DeviceStoreMemory;
import io.stload.cuda.DeviceTensor;
import io.stload.cuda.Pinning;
import io.stload.cuda.RingOptions;
import io.stload.s3.S3Location;
import io.stload.s3.S3ProxyServer;
import io.stload.s3.S3Settings;
import io.stload.s3.S3Storage;
import io.stload.store.ReloadMatrix;
import io.stload.store.ReloadOptions.Mode;
import io.stload.store.StepCheckpoints;
import io.stload.store.StoreMemory;
import io.stload.store.WeightSource;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The matrix cell the modules cannot run alone: the CUDA destination (through its copy-engine seam) reloading from S3
 * prefixes on S3Proxy, beside and in place.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DeviceS3ReloadTest {
    @TempDir
    static Path tmp;
    static S3ProxyServer server;
    static S3Storage s3;

    @BeforeAll
    static void start() throws Exception {
        server = new S3ProxyServer(tmp.resolve("s3"));
        s3 = S3Storage.connect(S3Settings.DEFAULTS.withParts(64 << 10, 4).withEndpoint(server.endpoint()));
    }

    @AfterAll
    static void stop() throws Exception {
        s3.close();
        server.close();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void deviceMemoryFromS3Prefixes(Mode mode) throws Exception {
        try (CpuCopyEngine engine = new CpuCopyEngine()) {
            ReloadMatrix.SourceUnderTest steps = k -> {
                Path written = tmp.resolve(mode + "-step-" + k);
                StepCheckpoints.write(written, k);
                String prefix = "policy-" + mode + "/step-" + k + "/";
                try (var files = Files.list(written)) {
                    for (Path f : files.toList()) {
                        server.put("models", prefix + f.getFileName(), f);
                    }
                }
                String url = "s3://models/" + prefix;
                return WeightSource.of(url, () -> s3.open(S3Location.parse(url)));
            };
            DeviceStoreMemory[] memory = new DeviceStoreMemory[1];
            ReloadMatrix.run(new ReloadMatrix.MemoryUnderTest<DeviceTensor>() {
                @Override
                public StoreMemory<DeviceTensor> memory() {
                    memory[0] = new DeviceStoreMemory(engine, new RingOptions(3, 16 << 10, Pinning.HOST_ALLOC));
                    return memory[0];
                }

                @Override
                public byte[] bytes(DeviceTensor t) {
                    return engine.deviceBytes(t.devicePointer(), t.byteSize()).toArray(ValueLayout.JAVA_BYTE);
                }

                @Override
                public long liveAllocations() {
                    return engine.liveDeviceAllocations();
                }
            }, steps, mode);
            memory[0].close();
            assertEquals(0, engine.liveStagingBuffers());
        }
    }
}
