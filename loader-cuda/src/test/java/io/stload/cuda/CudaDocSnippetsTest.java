package io.stload.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.stload.docs.DocSnippets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The documentation's {@code java compile loader-cuda} blocks compile against this module (see DocSnippets). */
class CudaDocSnippetsTest {
    @TempDir
    Path work;

    @Test
    void theCudaBlocksCompile() throws Exception {
        assertFalse(DocSnippets.check("loader-cuda", List.of("io.stload.cuda.*"), work).isEmpty(),
                "docs/gpu.md shows the Java API in a java compile loader-cuda block");
    }
}
