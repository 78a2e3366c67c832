"""Failover drills: a local cluster of real `ring serve` processes, load, faults, a checker.

    cluster    LocalCluster: real instances with the demo app, kill/pause/restart, status, events;
               StatusWatcher: their status polled in the background
    configs    the drill's copy of a server.xml, on free ports (or namespace addresses)
    workload   simulated users with cookie jars; every request recorded as ok/failed/indeterminate
    balancer   a built-in sticky balancer (HAProxy's cookie insert + redispatch, in-process)
    haproxy    the same with the real haproxy (--lb haproxy)
    faults     the seeded schedule and the nemesis that injects it
    netns      network namespaces, cuts and packet loss (--partition, root)
    checker    pure functions over the history: lost, stale, detection, unavailability, ...
    report     the figures as one dict, and their rich tables
    runner     one drill from start to report, in stages
    ui         the progress on stderr: timestamped messages and a refreshed status line
    hygiene    signals that unwind, leftovers of killed drills reaped, background loops that
               hand their errors over instead of swallowing them

DrillError lives in ring.errors with every other ring error; it is re-exported here.
"""

from ring.errors import DrillError

__all__ = ["DrillError"]
