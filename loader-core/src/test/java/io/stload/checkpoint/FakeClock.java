package io.stload.checkpoint;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Wait policies on a fake clock: a wait shows as a sleep, never as a slow test. What the code under test logs is
 * kept, and {@link #duringSleep} runs at each sleep: the "peer" (a download, another rank) acts then, and time moves.
 */
final class FakeClock {
    final AtomicLong nanos = new AtomicLong();
    final List<String> log = new ArrayList<>();
    Runnable duringSleep = () -> {
    };
    int sleeps;

    WaitPolicy policy(Duration timeout) {
        return new WaitPolicy(timeout, nanos::get, pause -> {
            sleeps++;
            nanos.addAndGet(pause);
            duringSleep.run();
        }, log::add);
    }
}
