"""Which addresses users' containers may not reach (user_blocked_addresses), as firewall rules
on the Hub's Docker network. Decisions only, no I/O.

Docker's published and forwarded traffic passes the DOCKER-USER chain, which Docker leaves to
the admin; a chain of our own holds one REJECT per blocked address, and DOCKER-USER jumps to it
for traffic from the Hub network's bridge. A systemd unit (re)applies the rules whenever Docker
starts, since iptables rules do not survive a reboot.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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
    context = {"network": HubNames.of(data).network, "chain": CHAIN, "unit": UNIT, "script": SCRIPT,
               "addresses": networks(data.user_blocked_addresses)}
    return EgressFiles(script=render("jupyterhub-egress.sh.j2", context),
                       unit=render("jupyterhub-egress.service.j2", context))


def rules_in_force(data, live: dict | None) -> bool:
    """Whether the host's live rules (the EgressRules fact) are exactly what the settings ask."""
    if not live or not live["bridge"]:
        return False
    wanted = [f"-N {CHAIN}", *(f"-A {CHAIN} -d {network} -j REJECT --reject-with icmp-port-unreachable"
                               for network in networks(data.user_blocked_addresses))]
    return live["chain"] == wanted and live["jumps"] == [f"-A DOCKER-USER -i {live['bridge']} -j {CHAIN}"]
