package io.stload.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * The records the library logs under a name ({@link System.Logger}, backed by java.util.logging), every level
 * included, kept for the test that expects them instead of printed; closing it puts logging back as it was.
 */
public final class CapturedLog implements AutoCloseable {
    /** Held: java.util.logging keeps loggers weakly, and a collected one would lose this configuration. */
    private final Logger logger;
    private final Level level;
    private final boolean parentHandlers;
    private final List<LogRecord> records = new ArrayList<>();
    private final Handler handler = new Handler() {
        @Override
        public void publish(LogRecord record) {
            synchronized (records) {
                records.add(record);
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    private CapturedLog(String name) {
        logger = Logger.getLogger(name);
        level = logger.getLevel();
        parentHandlers = logger.getUseParentHandlers();
        logger.setLevel(Level.ALL);
        logger.setUseParentHandlers(false);
        logger.addHandler(handler);
    }

    /** Captures what the S3 module logs. */
    public static CapturedLog s3() {
        return new CapturedLog("io.stload.s3");
    }

    /** Captures what a checkpoint's resolution logs: the commit a repo id names, and waits for downloads. */
    public static CapturedLog checkpoint() {
        return new CapturedLog("io.stload.checkpoint");
    }

    /** {@return the messages captured so far, formatted} */
    public List<String> messages() {
        SimpleFormatter f = new SimpleFormatter();
        synchronized (records) {
            return records.stream().map(f::formatMessage).toList();
        }
    }

    /** {@return the levels of the records captured so far} */
    public List<Level> levels() {
        synchronized (records) {
            return records.stream().map(LogRecord::getLevel).toList();
        }
    }

    @Override
    public void close() {
        logger.removeHandler(handler);
        logger.setUseParentHandlers(parentHandlers);
        logger.setLevel(level);
    }

    @Override
    public String toString() {
        return String.join("\n", new ArrayList<>(messages()));
    }
}
