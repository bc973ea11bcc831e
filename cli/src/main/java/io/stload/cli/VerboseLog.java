package io.stload.cli;

import java.io.PrintWriter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * {@code --verbose}: the library logs through {@link System.Logger}, which the JDK backs with
 * java.util.logging; this shows every {@code io.stload} record, debug included, on stderr, one line each.
 */
final class VerboseLog {
    /** java.util.logging holds loggers weakly: a configured one must be held, or its level is lost. */
    private static final Logger ROOT = Logger.getLogger("io.stload");

    private VerboseLog() {
    }

    /** Shows the library's records on {@code err}, or, given null, puts logging back as the JDK set it up. */
    static void show(PrintWriter err) {
        for (Handler h : ROOT.getHandlers()) {
            ROOT.removeHandler(h);
        }
        ROOT.setLevel(err == null ? null : Level.ALL);
        ROOT.setUseParentHandlers(err == null);
        if (err != null) {
            ROOT.addHandler(new LineHandler(err));
        }
    }

    /** One line per record: {@code stload: [plan] message}, the last part of the logger's name in brackets. */
    private static final class LineHandler extends Handler {
        private final PrintWriter err;
        private final SimpleFormatter formatter = new SimpleFormatter();

        LineHandler(PrintWriter err) {
            this.err = err;
        }

        @Override
        public void publish(LogRecord record) {
            String name = record.getLoggerName();
            err.println("stload: [" + name.substring(name.lastIndexOf('.') + 1) + "] " + formatter.formatMessage(record));
        }

        @Override
        public void flush() {
            err.flush();
        }

        @Override
        public void close() {
            flush();
        }
    }
}
