package io.stload.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** How the CLI reports an error: a user's error by its kind and exit code, a bug as a bug, one line each. */
class ErrorReportTest {
    private final StringWriter err = new StringWriter();

    private int report(Throwable e, boolean debug) {
        return Main.reportError(e, debug, new PrintWriter(err, true));
    }

    @Test
    void anIoErrorIsOneLineWithItsKindAndFileAndExitsFour() {
        assertEquals(4, report(new StloadException(ErrorKind.Io, Path.of("m.safetensors"), "short read"), false));
        assertEquals("error: Io: m.safetensors: short read", err.toString().strip());
    }

    @Test
    void aBugFromTheEngineIsInternalWithTheDebugHintAndExitsSeventy() {
        StloadException bug = new StloadException(ErrorKind.Internal, null, "java.lang.NullPointerException: boom",
                new NullPointerException("boom"));
        assertEquals(70, report(bug, false));
        assertEquals("error: internal: java.lang.NullPointerException: boom (run with --debug for details)",
                err.toString().strip());
    }

    /** An Error other than running out of memory is a bug too: one line, never the JVM's own trace and exit 1. */
    @Test
    void anUnexpectedErrorIsInternalOnOneLine() {
        assertEquals(70, report(new StackOverflowError(), false));
        assertEquals("error: internal: StackOverflowError: null (run with --debug for details)", err.toString().strip());
    }

    @Test
    void anUnexpectedExceptionIsInternalAndDebugAddsTheTrace() {
        assertEquals(70, report(new IllegalStateException("oops"), true));
        String text = err.toString();
        assertTrue(text.startsWith("error: internal: IllegalStateException: oops\n"), text);
        assertTrue(text.contains("\tat "), text);
    }
}
