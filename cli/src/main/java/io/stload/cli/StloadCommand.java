package io.stload.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** What every {@code stload} command has: its command line, whose streams are the output and the notes. */
abstract class StloadCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** Where the command's results go (stdout, or what a test gave {@link Main#run}). */
    final PrintWriter out() {
        return spec.commandLine().getOut();
    }

    /** Where notes, waits and warnings go, never mixed into the (JSON) results. */
    final PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /**
     * Refuses any of {@code flags} given on the command line where they would be ignored: whoever gives a flag
     * expects it to act. The usage line reads "FLAG does not apply to {@code where}".
     */
    final void refuseGiven(String where, String... flags) {
        for (String flag : flags) {
            if (spec.commandLine().getParseResult().hasMatchedOption(flag)) {
                throw FlagValue.usage(flag + " does not apply to " + where);
            }
        }
    }
}
