/**
 * Host memory: the facts about it the planner weighs (memory headroom, MemAvailable capped by the cgroup limit),
 * and the default destination of a load, host memory the loader allocates and the caller's weights then own.
 * Internal: not exported by the module.
 */
package io.stload.host;
