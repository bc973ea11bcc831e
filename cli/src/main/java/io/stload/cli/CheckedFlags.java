package io.stload.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParseResult;

/**
 * A group of flags that checks every value it was given before its command runs, whether or not the command's path
 * reads it: {@code --s3-part-size NaN} on a local checkpoint, or {@code --ring-windows -1} on a host load, is the
 * same usage error as where the value would be used.
 */
interface CheckedFlags {
    /** Parses every value; a bad one is a usage error naming its flag. */
    void check();

    /**
     * Checks the flag groups of the command that runs: the command itself and its mixins, nested ones too. None
     * when help or the version is asked for.
     */
    static void checkAll(ParseResult parsed) {
        ParseResult last = parsed;
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.isUsageHelpRequested() || p.isVersionHelpRequested()) {
                return;
            }
            last = p;
        }
        check(last.commandSpec());
    }

    private static void check(CommandSpec spec) {
        if (spec.userObject() instanceof CheckedFlags flags) {
            flags.check();
        }
        spec.mixins().values().forEach(CheckedFlags::check);
    }
}
