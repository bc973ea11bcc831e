package io.stload.plan;

import io.stload.StloadException;

/**
 * What was measured about the host before choosing strategies.
 *
 * @param headroomBytes memory the page cache can still use (MemAvailable capped by the cgroup limit), -1 if unknown
 * @param headroomSource how it was found out, in words
 * @param nativeAccess  null when native calls work, else why the pure-Java fallback is in use
 * @param anonymousRoomBytes the memory of its own (a host destination's) the process can still take before a memory
 *                      cgroup's limit has the kernel kill it, with no swap to move it to, beside what the process and
 *                      the load's threads run in; -1 when nothing bounds it
 */
public record HostFacts(long headroomBytes, String headroomSource, String nativeAccess, long anonymousRoomBytes) {
    /**
     * Facts with no bound on the memory the process may take known.
     *
     * @param headroomBytes  memory the page cache can still use, -1 if unknown
     * @param headroomSource how it was found out, in words
     * @param nativeAccess   null when native calls work, else why the pure-Java fallback is in use
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code headroomSource} is null
     */
    public HostFacts(long headroomBytes, String headroomSource, String nativeAccess) {
        this(headroomBytes, headroomSource, nativeAccess, -1);
    }

    /**
     * Checks that the headroom's source is given.
     *
     * @throws StloadException {@link io.stload.ErrorKind#Usage} if {@code headroomSource} is null
     */
    public HostFacts {
        StloadException.requireNonNull(headroomSource, "the host's facts say how the headroom was found out, not null");
    }
}
