package io.stload.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Rules and tensor filters match names from a checkpoint, which may be long and hostile: a glob matches as a glob
 * does, without backtracking over every place of every star; a regex that overflows the stack on a name is the
 * rule's fault, said as a usage error.
 */
class PatternMatchTest {
    /** A glob's meaning, by dynamic programming over pattern and name positions. */
    private static boolean reference(String glob, String name) {
        boolean[][] m = new boolean[glob.length() + 1][name.length() + 1];
        m[0][0] = true;
        for (int i = 1; i <= glob.length(); i++) {
            char g = glob.charAt(i - 1);
            for (int j = 0; j <= name.length(); j++) {
                m[i][j] = g == '*' ? m[i - 1][j] || (j > 0 && m[i][j - 1])
                        : j > 0 && m[i - 1][j - 1] && (g == '?' || g == name.charAt(j - 1));
            }
        }
        return m[glob.length()][name.length()];
    }

    @Test
    void aGlobMeansWhatAGlobMeans() {
        SplittableRandom random = new SplittableRandom(7);
        String globChars = "ab.*?";
        for (int n = 0; n < 20_000; n++) {
            StringBuilder glob = new StringBuilder();
            for (int i = random.nextInt(7); i > 0; i--) {
                glob.append(globChars.charAt(random.nextInt(globChars.length())));
            }
            StringBuilder name = new StringBuilder();
            for (int i = random.nextInt(9); i > 0; i--) {
                name.append("ab.".charAt(random.nextInt(3)));
            }
            String g = glob.toString();
            String s = name.toString();
            assertEquals(reference(g, s), PartitionRule.glob(g, 0, false).matches(s), g + " on " + s);
        }
    }

    @Test
    void aGlobOfManyStarsOnALongNameAnswersAtOnce() {
        String name = "a".repeat(200_000);
        PartitionRule rule = PartitionRule.glob("*a*a*a*a*a*a*a*a*b", 0, false);
        TensorFilter filter = TensorFilter.of(List.of("*a*a*a*a*a*a*a*a*b", "*a?a*a"));
        // Before, each star retried every later place: hours for this name; the bound only catches a hang.
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            assertFalse(rule.matches(name));
            assertTrue(PartitionRule.glob("*a*a*a*a*a*a*a*a", 0, false).matches(name));
            assertTrue(filter.matches(name));
        });
    }

    @Test
    void aRegexThatOverflowsTheStackOnANameIsTheRulesFault() {
        String name = "a".repeat(50_000);
        PartitionRule rule = PartitionRule.regex("(a|aa)+", 0, false);
        StloadException e = assertThrows(StloadException.class, () -> rule.matches(name));
        assertEquals(ErrorKind.Usage, e.kind());
        assertTrue(e.getMessage().contains("`(a|aa)+` recurses too deeply to match a tensor name of 50000 characters"),
                e.getMessage());
        TensorFilter filter = TensorFilter.of(List.of("re:(a|aa)+"));
        assertEquals(ErrorKind.Usage, assertThrows(StloadException.class, () -> filter.matches(name)).kind());
    }

    @Test
    void partsThatAddUpPast63BitsAreRefusedWhenTheRulesAreRead() {
        StloadException e = assertThrows(StloadException.class, () -> PartitionSpec.parse("t", """
                {"rules": [{"pattern": "*q_proj*", "split": 0,
                            "parts": [9223372036854775807, 9223372036854775807]}]}"""));
        assertEquals(ErrorKind.Usage, e.kind());
        assertTrue(e.getMessage().contains("add up past 2^63 - 1"), e.getMessage());
    }
}
