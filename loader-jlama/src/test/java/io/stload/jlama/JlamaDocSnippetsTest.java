package io.stload.jlama;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.stload.docs.DocSnippets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documentation's {@code java compile loader-jlama} blocks compile against this module, Jlama and stload-s3 (see
 * DocSnippets). Jlama's {@code DType} is imported by name, so in these blocks it is Jlama's, not stload's.
 */
class JlamaDocSnippetsTest {
    @TempDir
    Path work;

    @Test
    void theJlamaBlocksCompile() throws Exception {
        assertFalse(DocSnippets.check("loader-jlama", List.of("io.stload.jlama.*", "io.stload.s3.*",
                "com.github.tjake.jlama.model.*", "com.github.tjake.jlama.model.functions.Generator",
                "com.github.tjake.jlama.safetensors.DType", "com.github.tjake.jlama.safetensors.WeightLoader",
                "com.github.tjake.jlama.safetensors.prompt.PromptContext"), work).isEmpty(),
                "docs/jlama.md shows the module in java compile loader-jlama blocks");
    }
}
