package io.stload.checkpoint;

import io.stload.ErrorKind;
import io.stload.StloadException;
import java.nio.file.Path;
import java.util.Locale;

/** One bounded wait under a {@link WaitPolicy}: backoff steps, a log line about every 10 s, a timeout. */
final class Wait {
    private final WaitPolicy policy;
    private final long start;
    private long step = WaitPolicy.FIRST_STEP.toNanos();
    private long lastLog = Long.MIN_VALUE;

    Wait(WaitPolicy policy) {
        this.policy = policy;
        this.start = policy.nanoTime().getAsLong();
    }

    long elapsedNanos() {
        return policy.nanoTime().getAsLong() - start;
    }

    /** Sleeps one backoff step, or throws {@link ErrorKind#WaitTimeout} once the bound is spent. */
    void pause(Path file, String waitingFor) {
        long now = policy.nanoTime().getAsLong();
        long left = policy.timeout().toNanos() - (now - start);
        if (left <= 0) {
            throw new StloadException(ErrorKind.WaitTimeout, file, String.format(Locale.ROOT,
                    "gave up after %.0f s (the wait timeout) waiting for %s", (now - start) / 1e9, waitingFor));
        }
        if (lastLog == Long.MIN_VALUE || now - lastLog >= WaitPolicy.LOG_EVERY.toNanos()) {
            policy.log().accept(String.format(Locale.ROOT, "waiting %.0f s so far (up to %d s) for %s",
                    (now - start) / 1e9, policy.timeout().toSeconds(), waitingFor));
            lastLog = now;
        }
        try {
            policy.sleeper().sleep(Math.min(step, left));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StloadException(ErrorKind.WaitTimeout, file, "interrupted while waiting for " + waitingFor);
        }
        step = WaitPolicy.nextStep(step);
    }
}
