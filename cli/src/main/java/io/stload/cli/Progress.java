package io.stload.cli;

import io.stload.checkpoint.TensorRef;
import io.stload.load.LoadedWeights;
import io.stload.load.Loader;
import io.stload.plan.LoadPlan;
import io.stload.report.LoadListener;
import java.util.concurrent.atomic.AtomicLong;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar on stderr for loads that take more than a moment, and only on a terminal: never in
 * {@code --json} mode, never when output is redirected, never for a load that is over in a blink.
 */
final class Progress implements LoadListener, AutoCloseable {
    private static final long SHOW_AFTER_NANOS = 1_500_000_000L;

    private final long totalBytes;
    private final boolean enabled;
    private final long start = System.nanoTime();
    private final AtomicLong done = new AtomicLong();
    private ProgressBar bar;
    private boolean closed;

    private Progress(long totalBytes, boolean enabled) {
        this.totalBytes = totalBytes;
        this.enabled = enabled;
    }

    static Progress forLoad(long totalBytes, boolean humanOutput) {
        var console = System.console();
        return new Progress(totalBytes, humanOutput && console != null && console.isTerminal());
    }

    /** Loads {@code plan} into host memory, the bar (if any) ended when it returns: before the caller prints. */
    static LoadedWeights load(LoadPlan plan, boolean humanOutput) {
        try (Progress progress = forLoad(plan.bytes(), humanOutput)) {
            return new Loader().execute(plan, progress);
        }
    }

    @Override
    public void materialized(TensorRef tensor, long bytes) {
        long now = done.addAndGet(bytes);
        if (!enabled || System.nanoTime() - start < SHOW_AFTER_NANOS) {
            return;
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            if (bar == null) {
                bar = new ProgressBarBuilder().setTaskName("load").setInitialMax(totalBytes)
                        .setUnit("MiB", 1 << 20).showSpeed().setStyle(ProgressBarStyle.ASCII)
                        .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
            }
            bar.stepTo(now);
        }
    }

    @Override
    public synchronized void close() {
        if (bar != null && !closed) {
            bar.close();
        }
        closed = true;
    }
}
