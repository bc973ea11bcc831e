package io.stload.cli;

import picocli.CommandLine.Option;

/** {@code --json}: a command's result as one JSON object on stdout, for scripts, instead of text. */
final class JsonFlag {
    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean on;
}
