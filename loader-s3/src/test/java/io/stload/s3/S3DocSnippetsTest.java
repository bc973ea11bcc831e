package io.stload.s3;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.stload.docs.DocSnippets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The documentation's {@code java compile loader-s3} blocks compile against this module (see DocSnippets). */
class S3DocSnippetsTest {
    @TempDir
    Path work;

    @Test
    void theS3BlocksCompile() throws Exception {
        assertFalse(DocSnippets.check("loader-s3", List.of("io.stload.s3.*"), work).isEmpty(),
                "docs/object-storage.md shows the Java API in a java compile loader-s3 block");
    }
}
