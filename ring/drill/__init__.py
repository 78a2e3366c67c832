"""Failover drills: a local cluster of real `ring serve` processes, load, faults, a checker."""
