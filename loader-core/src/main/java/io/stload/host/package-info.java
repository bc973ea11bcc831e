/**
 * Facts about the host that the planner and the engine weigh: its memory headroom (MemAvailable capped by the
 * tightest cgroup limit). Below everything that reads them. Internal: not exported by the module.
 */
package io.stload.host;
