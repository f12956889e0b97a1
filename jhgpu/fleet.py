"""The servers of one Hub as pyinfra sees them: each host's role from the inventory's groups
(decided in jhgpu/swarm.py), its address in the Swarm, and the facts that say how its Docker
engine stands in a Swarm (jhgpu/facts/docker.py).
"""

from __future__ import annotations

from jhgpu.facts.server import DefaultAddress, HostAddresses
from jhgpu.swarm import HUB_GROUP, WORKER, WORKERS_GROUP, role_of


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


def node_addresses(host) -> list[str]:
    """Every address of every node of `host`'s Swarm that the deploy can see: their advertise
    addresses and their own global ones."""
    nodes = [hub_host(host), *worker_hosts(host)]
    return sorted({address for node in nodes
                   for address in (advertise_address(node), *node.get_fact(HostAddresses)) if address})
