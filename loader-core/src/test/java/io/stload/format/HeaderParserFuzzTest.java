package io.stload.format;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.stload.StloadException;
import java.nio.file.Path;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Coverage-guided fuzzing of the header parser: whatever the bytes, the only failure it may report is a
 * {@link StloadException}. A plain {@code mvn verify} replays the seed corpus beside this class (regression
 * mode); {@code JAZZER_FUZZ=1 mvn -pl loader-core test -Dtest=HeaderParserFuzzTest} explores for real.
 */
@Isolated("Jazzer hooks the classes every test uses while a fuzz test runs")
class HeaderParserFuzzTest {
    private static final Path NAME = Path.of("fuzz.safetensors");

    @FuzzTest(maxDuration = "30s")
    void parseNeverThrowsAnythingElse(byte[] file) {
        try {
            HeaderParser.parse(file, NAME);
        } catch (StloadException expected) {
            // Rejection is the parser's job; any other throwable fails the fuzz test.
        }
    }
}
