"""The servers of one Hub as pyinfra sees them: each host's role from the inventory's groups
(decided in jhgpu/swarm.py), its address in the Swarm, and the facts that say how its Docker
engine stands in a Swarm. Query a fact by hand, e.g.
    pyinfra inventory.py fact jhgpu.fleet.SwarmInfo
"""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

from jhgpu.swarm import HUB_GROUP, WORKER, WORKERS_GROUP, role_of


class SwarmInfo(FactBase):
    """The engine's Swarm section of `docker info` ({"LocalNodeState": ..., "ControlAvailable":
    ..., "RemoteManagers": [...]}); None without Docker."""

    requires_command = "docker"

    def command(self) -> str:
        return "docker info --format '{{json .Swarm}}'"

    def process(self, output):
        return json.loads("".join(output))


class DefaultAddress(FactBase):
    """The host's IPv4 address on the interface of its default route, or None."""

    requires_command = "ip"

    def command(self) -> str:
        return ("dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == \"dev\") print $(i+1)}'"
                " | head -n 1); [ -n \"$dev\" ] && ip -4 -o addr show dev \"$dev\" | awk '{print $4}' | head -n 1")

    def process(self, output):
        return "".join(output).strip().split("/")[0] or None


class DockerServerVersion(FactBase):
    """The running Docker engine's version ("26.1.5+dfsg1"), or None."""

    requires_command = "docker"

    def command(self) -> str:
        return "docker version --format '{{.Server.Version}}' 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() or None


def _groups(host) -> dict[str, list[str]]:
    inventory = host.inventory
    return {name: [member.name for member in inventory.get_group(name, [])] for name in (HUB_GROUP, WORKERS_GROUP)}


def role(host) -> str:
    """"single", "manager" or "worker" (jhgpu/swarm.py's role_of)."""
    return role_of(host.name, _groups(host))


def is_worker(host) -> bool:
    return role(host) == WORKER


def hub_host(host):
    """The Swarm's manager, the host in group hub_server."""
    return host.inventory.get_group(HUB_GROUP)[0]


def worker_hosts(host) -> list:
    return list(host.inventory.get_group(WORKERS_GROUP, []))


def advertise_address(host) -> str | None:
    """Where the Swarm's other nodes reach `host`: its swarm_advertise_address, or the address of
    its default route."""
    return host.data.swarm_advertise_address or host.get_fact(DefaultAddress)


class NetworkDriver(FactBase):
    """The driver of Docker network `network` ("overlay", "bridge"), or None when there is none."""

    requires_command = "docker"

    def command(self, network: str) -> str:
        return f"docker network inspect --format '{{{{.Driver}}}}' {shlex.quote(network)} 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() or None


class MountSources(FactBase):
    """What is mounted at each of `paths`: {path: its source ("server:/export", "/dev/sdb1"), or
    None where the path is no mount point}. The topmost mount where several are stacked."""

    requires_command = "findmnt"

    def command(self, paths: list[str]) -> str:
        return "; ".join(f"printf '%s\\t%s\\n' {shlex.quote(path)} "
                         f"\"$(findmnt -n -o SOURCE --mountpoint {shlex.quote(path)} | tail -n 1)\"" for path in paths)

    def process(self, output):
        found = {}
        for line in output:
            path, _, source = line.partition("\t")
            found[path.strip()] = source.strip() or None
        return found
