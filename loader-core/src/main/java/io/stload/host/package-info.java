/**
 * Facts about the machine the planner weighs: memory headroom (MemAvailable capped by the cgroup limit).
 * Internal: not exported by the module.
 */
package io.stload.host;
