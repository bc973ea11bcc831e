/**
 * Facts about the host that the planner and the engine weigh: its memory headroom (MemAvailable capped by the
 * tightest cgroup limit), the process's own memory, and the ledger in which the loads of one memory cgroup share its
 * room. Below everything that reads them. Internal: not exported by the module.
 */
package io.stload.host;
