package io.stload.modulepath;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.stload.load.Loader;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The exported packages of io.stload.core name no internal type: an embedder can use all it sees. */
class ExportedApiTest {
    @Test
    void exportedMembersNameOnlyJavaExportedOrRequiredTypes() throws Exception {
        assertEquals("io.stload.core", ApiSurface.moduleName(Loader.class));
        assertEquals(List.of(), ApiSurface.leaks(Loader.class),
                "public members of exported packages that name a type an embedder cannot use");
    }
}
