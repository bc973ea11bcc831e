package io.stload.jmh;

import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * A benchmark each invocation of which is timed once, after per-invocation setup (a page-cache state, an open
 * checkpoint), in one forked JVM with native access; subclasses say how many invocations and in what unit.
 */
@BenchmarkMode(Mode.SingleShotTime)
// Prepended, because a -jvmArgsAppend on the command line replaces the annotation's appended arguments
// rather than adding to them.
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public abstract class SingleShotBenchmark {
}
