package io.stload.cli;

import io.stload.checkpoint.CheckpointVerifier;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar on stderr for {@code verify --deep}, only on a terminal and never in {@code --json} mode. */
final class HashProgressBar implements CheckpointVerifier.HashProgress, AutoCloseable {
    private final boolean enabled;
    private ProgressBar bar;

    HashProgressBar(boolean humanOutput) {
        var console = System.console();
        this.enabled = humanOutput && console != null && console.isTerminal();
    }

    @Override
    public synchronized void starting(long totalBytes) {
        if (enabled) {
            bar = new ProgressBarBuilder().setTaskName("sha256").setInitialMax(totalBytes).setUnit("MiB", 1 << 20)
                    .showSpeed().setStyle(ProgressBarStyle.ASCII).setConsumer(new ConsoleProgressBarConsumer(System.err))
                    .build();
        }
    }

    @Override
    public synchronized void hashed(long bytes) {
        if (bar != null) {
            bar.stepBy(bytes);
        }
    }

    @Override
    public synchronized void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
