package io.stload.plan;

import io.stload.nativeio.NativeAccess;

/** A planner whose system calls go through a test's {@link NativeAccess}, for tests outside this package. */
public final class Planners {
    private Planners() {
    }

    public static Planner with(NativeAccess os) {
        return new Planner(os);
    }
}
