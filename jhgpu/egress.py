"""Walls around users' containers on the Hub's Docker network, as firewall rules: no user's
server reaches another's (only the Hub reaches them, and they reach only the Hub on that
network), and none reaches user_blocked_addresses. Decisions only, no I/O.

Docker's published and forwarded traffic passes the DOCKER-USER chain, which Docker leaves to
the admin (traffic between containers on one bridge too: Docker turns on the kernel's
bridge-nf-call-iptables); a chain of our own holds the rules, and DOCKER-USER jumps to it for
traffic from the Hub network's bridge. Zero to JupyterHub draws the same wall with network
policies (a user's pod takes connections from the proxy and the Hub only). The rules name the
Hub's address, read when they are applied: a systemd unit (re)applies them whenever Docker
starts (iptables rules do not survive a reboot, and the Hub may come back at another address),
and the deploy does whenever the live rules differ.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from jhgpu.facts.iptables import container_address_command
from jhgpu.hub import HubNames, render

CHAIN = "JUPYTERHUB-EGRESS"
UNIT = "jupyterhub-egress.service"
SCRIPT = "/usr/local/sbin/jupyterhub-egress"


def networks(addresses) -> list[str]:
    """Each address or network as iptables prints it ("169.254.169.254/32")."""
    return [str(ipaddress.ip_network(address, strict=False)) for address in addresses]


@dataclass(frozen=True)
class EgressFiles:
    script: str
    unit: str


def egress_files(data) -> EgressFiles:
    names = HubNames.of(data)
    context = {"network": names.network, "hub_container": names.container, "chain": CHAIN, "unit": UNIT,
               "script": SCRIPT, "addresses": networks(data.user_blocked_addresses),
               "hub_address": container_address_command(names.network, names.container)}
    return EgressFiles(script=render("jupyterhub-egress.sh.j2", context),
                       unit=render("jupyterhub-egress.service.j2", context))


def wanted_rules(data, bridge: str, hub_address: str | None) -> list[str]:
    """The chain as `iptables -S` prints it, for the Hub's network's bridge and the Hub's address
    (None while the Hub is not on the network: then users' servers cannot be told from it)."""
    between_users = [f"-A {CHAIN} -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                     f"-A {CHAIN} -s {hub_address}/32 -o {bridge} -j RETURN",
                     f"-A {CHAIN} -d {hub_address}/32 -o {bridge} -j RETURN",
                     f"-A {CHAIN} -o {bridge} -j REJECT --reject-with icmp-port-unreachable"] if hub_address else []
    return [f"-N {CHAIN}", *between_users,
            *(f"-A {CHAIN} -d {network} -j REJECT --reject-with icmp-port-unreachable"
              for network in networks(data.user_blocked_addresses))]


def rules_in_force(data, live: dict | None) -> bool:
    """Whether the host's live rules (the EgressRules fact) are exactly what the settings ask."""
    if not live or not live["bridge"]:
        return False
    return (live["chain"] == wanted_rules(data, live["bridge"], live.get("hub"))
            and live["jumps"] == [f"-A DOCKER-USER -i {live['bridge']} -j {CHAIN}"])
