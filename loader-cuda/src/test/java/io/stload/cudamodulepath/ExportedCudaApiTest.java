package io.stload.cudamodulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.cuda.DeviceLoader;
import io.stload.modulepath.ApiSurface;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The exported package of io.stload.cuda names no internal type of its own or of io.stload.core. */
class ExportedCudaApiTest {
    @Test
    void exportedMembersNameOnlyJavaExportedOrRequiredTypes() throws Exception {
        assertEquals("io.stload.cuda", ApiSurface.moduleName(DeviceLoader.class));
        assertEquals(List.of(), ApiSurface.leaks(DeviceLoader.class),
                "public members of io.stload.cuda that name a type an embedder cannot use");
    }
}
