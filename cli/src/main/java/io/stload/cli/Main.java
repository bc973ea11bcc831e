package io.stload.cli;

import io.stload.ErrorKind;
import io.stload.Printable;
import io.stload.StloadException;
import io.stload.nativeio.FileChecks;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code ./stload} front door. Every error a user can cause is one line on stderr and an exit code
 * ({@link ExitCodes}); {@code --debug} adds the stack trace.
 */
@Command(name = "stload", mixinStandardHelpOptions = true, scope = CommandLine.ScopeType.INHERIT,
        versionProvider = Main.Version.class,
        description = "Fast, safe safetensors checkpoint loading.",
        subcommands = {DemoCommand.class, InspectCommand.class, GetCommand.class, PlanCommand.class, LoadCommand.class,
                VerifyCommand.class, GenCommand.class, ReshardCommand.class, ServeCommand.class, GpuProbeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces with errors.")
    boolean debug;

    private PrintWriter err;

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Log the plan's decision per file, fallbacks, waits and reloads on stderr.")
    void verbose(boolean on) {
        VerboseLog.show(on ? err : null);
    }

    public static void main(String[] args) {
        System.exit(run(args, utf8(System.out), utf8(System.err)));
    }

    /**
     * Output in UTF-8 whatever the locale: JSON is UTF-8, and in the C or POSIX locale (a container with no LANG)
     * the JVM's own streams would write each letter outside ASCII of a tensor's name or a path as {@code ?}.
     */
    private static PrintWriter utf8(OutputStream stream) {
        return new PrintWriter(new OutputStreamWriter(stream, StandardCharsets.UTF_8), true);
    }

    /** Runs the CLI and returns its exit code, for tests and embedding. */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        Main main = new Main();
        main.err = err;
        CommandLine cl = new CommandLine(main);
        cl.setOut(out);
        cl.setErr(err);
        // Enum-valued flags (--sink host|stream) take their values in any case.
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        // An empty path ("$OUT" unset) is refused, never taken as the working folder as Path.of takes it.
        cl.registerConverter(Path.class, Main::path);
        // One error path for everything: a flag picocli cannot parse is a usage error like any other, and what a
        // command throws is reported by kind (reportError, which the tests exercise directly).
        cl.setParameterExceptionHandler((ex, a) -> reportError(
                new StloadException(ErrorKind.Usage, null, ex.getMessage() + " (see --help)"), main.debug, err));
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> reportError(ex, main.debug, err));
        cl.setExecutionStrategy(parsed -> {
            try {
                CheckedFlags.checkAll(parsed);
            } catch (StloadException e) {
                return reportError(e, main.debug, err);
            }
            return new CommandLine.RunLast().execute(parsed);
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // Thrown by the command itself (picocli hands the handler exceptions only). What failed to fit is
            // garbage by now, so there is room to say so.
            return outOfMemory(e, err, main.debug);
        } catch (Error e) {
            return reportError(e, main.debug, err); // a bug (a StackOverflowError...): one line, not the JVM's trace
        }
    }

    private static Path path(String text) {
        try {
            return FileChecks.userPath(text, "file");
        } catch (StloadException e) {
            throw new CommandLine.TypeConversionException(e.detail());
        }
    }

    private static OutOfMemoryError outOfMemoryIn(Throwable t) {
        for (int depth = 0; t != null && depth < 16; t = t.getCause(), depth++) {
            if (t instanceof OutOfMemoryError oom) {
                return oom;
            }
        }
        return null;
    }

    private static int outOfMemory(OutOfMemoryError e, PrintWriter err, boolean debug) {
        err.println("error: " + ErrorKind.OutOfMemory + ": the JVM ran out of memory (" + Printable.escape(e.getMessage())
                + "); give it more with STLOAD_JAVA_OPTS=-Xmx<size>, or load less at once");
        if (debug) {
            e.printStackTrace(err);
        }
        return ExitCodes.of(ErrorKind.OutOfMemory);
    }

    /**
     * One line for an error and its exit code: a user-caused error by its kind, anything else as a bug
     * ({@code error: internal: ...}, exit 70); {@code --debug} adds the stack trace.
     */
    static int reportError(Throwable ex, boolean debug, PrintWriter err) {
        OutOfMemoryError oom = outOfMemoryIn(ex);
        if (oom != null) {
            return outOfMemory(oom, err, debug);
        }
        if (ex instanceof StloadException se && se.kind() != ErrorKind.Internal) {
            err.println("error: " + se.getMessage()); // one line: names in it are escaped
            if (debug) {
                se.printStackTrace(err);
            }
            return ExitCodes.of(se.kind());
        }
        String what = ex instanceof StloadException se ? se.detail() : ex.getClass().getSimpleName() + ": " + ex.getMessage();
        err.println("error: internal: " + Printable.escape(what) + (debug ? "" : " (run with --debug for details)"));
        if (debug) {
            ex.printStackTrace(err);
        }
        return ExitCodes.UNEXPECTED;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"stload " + (v == null ? "dev" : v) + " on Java " + Runtime.version()};
        }
    }
}
