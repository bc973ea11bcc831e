package io.stload.cli;

/**
 * Runs an action if the JVM is stopped (SIGTERM, SIGINT) while this is open; closing it removes the hook, so a
 * command that returned normally leaves nothing behind in a JVM that goes on (tests, embedding).
 */
final class ShutdownHook implements AutoCloseable {
    private final Thread thread;

    ShutdownHook(Runnable onShutdown) {
        this.thread = new Thread(onShutdown, "stload-shutdown");
        Runtime.getRuntime().addShutdownHook(thread);
    }

    Thread thread() {
        return thread;
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(thread);
        } catch (IllegalStateException e) {
            // The JVM is already shutting down, and the hook is running or has run: nothing to remove.
        }
    }
}
