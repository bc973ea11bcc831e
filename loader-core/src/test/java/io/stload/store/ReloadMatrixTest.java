package io.stload.store;

import io.stload.store.ReloadOptions.Mode;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The reload matrix for the memories and sources of the core: host memory the loader owns and the caller's buffers,
 * from a local folder and from a hub revision whose download is still in progress, beside and in place. The CUDA
 * destination and S3 run the same cells in their modules.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReloadMatrixTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void hostMemoryFromALocalFolder(Mode mode) throws Exception {
        ReloadMatrix.run(ReloadMatrix.host(), ReloadMatrix.local(dir), mode);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void callersBuffersFromALocalFolder(Mode mode) throws Exception {
        ReloadMatrix.run(ReloadMatrix.caller(), ReloadMatrix.local(dir), mode);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void hostMemoryFromAHubRevisionStillDownloading(Mode mode) throws Exception {
        ReloadMatrix.HubRepo hub = new ReloadMatrix.HubRepo(dir.resolve("hub"));
        ReloadMatrix.run(ReloadMatrix.host(), hub, mode);
        org.junit.jupiter.api.Assertions.assertEquals(3, hub.waited.get(), "each reload waited for its download");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Mode.class)
    void callersBuffersFromAHubRevisionStillDownloading(Mode mode) throws Exception {
        ReloadMatrix.HubRepo hub = new ReloadMatrix.HubRepo(dir.resolve("hub"));
        ReloadMatrix.run(ReloadMatrix.caller(), hub, mode);
        org.junit.jupiter.api.Assertions.assertEquals(3, hub.waited.get(), "each reload waited for its download");
    }
}
