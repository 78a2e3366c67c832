"""What a SIGHUP may change in a running instance, decided by comparing two configurations.

The instance keeps the configuration it started with for everything the core and the transport
hold (the ring, ports, keys, timeouts, cookies, TLS files): changing those needs a restart, and a
reload only says so, naming the elements (never their values: one of them is the key). What the
process around the core owns can change at run time: <log-level>, and the admin address
(<admin-http>, unless --admin-http fixed it). `plan_reload` is pure; ring.commands.serve carries
the plan out and keeps the running configuration when the new file does not load.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ring.config import ClusterConfig, ReplicationSettings

RUNTIME_FIELDS = frozenset({"admin_http", "log_level"})  # ReplicationSettings fields applied at run time


@dataclass(frozen=True, slots=True)
class Runtime:
    """The settings a running instance applies without a restart."""

    log_level: str
    admin: tuple[str, int] | None


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    runtime: Runtime  # what to run with from now on
    changed: tuple[str, ...]  # runtime elements that changed (applied now)
    restart: tuple[str, ...]  # elements that changed but only a restart applies


def runtime_of(config: ClusterConfig, me: str, admin_override: tuple[str, int] | None = None) -> Runtime:
    return Runtime(log_level=config.replication.log_level,
                   admin=admin_override if admin_override is not None else config.admin_address(me))


def _element(field_name: str) -> str:
    renamed = {"async_": "async", "get_attribute_triggers_replication": "getAttribute-triggers-replication",
               "ntp_servers": "ntp-server"}
    return f"<{renamed.get(field_name, field_name.replace('_', '-'))}>"


def _instances(config: ClusterConfig) -> tuple[tuple[str, str, int, bool], ...]:
    return tuple((s.id, s.host, s.port, s.enabled) for s in config.instances)


def plan_reload(started: ClusterConfig, running: Runtime, new: ClusterConfig, me: str,
                admin_override: tuple[str, int] | None = None) -> ReloadPlan:
    """Compare `new` with the configuration the instance started with and what it runs with now."""
    restart = [_element(f.name) for f in dataclasses.fields(ReplicationSettings)
               if f.name not in RUNTIME_FIELDS
               and getattr(started.replication, f.name) != getattr(new.replication, f.name)]
    if _instances(started) != _instances(new):
        restart.append("<instance> (the ring's members)")
    if started.local_host != new.local_host:
        restart.append("<local-host>")
    runtime = runtime_of(new, me, admin_override)
    changed = [name for name, before, after in (("<log-level>", running.log_level, runtime.log_level),
                                                ("<admin-http>", running.admin, runtime.admin))
               if before != after]
    return ReloadPlan(runtime=runtime, changed=tuple(changed), restart=tuple(restart))
