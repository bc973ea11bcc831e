package io.stload.checkpoint;

import io.stload.nativeio.NativeAccess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * A deep check of a hub cache's repo in a process of its own (one started in another user namespace, say). Arguments:
 * the cache and the repo id. Prints each line the check logs, then {@code problem KIND} for each problem it finds.
 */
public final class DeepVerifyProbe {
    private DeepVerifyProbe() {
    }

    public static void main(String[] args) throws Exception {
        WaitPolicy policy = WaitPolicy.of(Duration.ofSeconds(30)).withLog(System.out::println);
        CheckpointVerifier.verify(args[1], Path.of(args[0]), true, 2, policy, CheckpointVerifier.HashProgress.NONE,
                Map.of(), NativeAccess.get()).problems().forEach(p -> System.out.println("problem " + p.kind()));
    }
}
