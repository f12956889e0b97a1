"""Facts about the firewall rules that keep users' containers from blocked addresses.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class EgressRules(FactBase):
    """The firewall rules that keep the Hub network's containers from blocked addresses:
    {"bridge": the network's bridge ("br-..."; None without the network), "chain": the lines of
    `iptables -S <chain>`, "jumps": DOCKER-USER's jumps to it}."""

    requires_command = "iptables"

    def command(self, network: str, chain: str) -> str:
        return (f"id=$(docker network ls -q --no-trunc --filter name=^{shlex.quote(network)}$ 2>/dev/null);"
                f" echo \"bridge ${{id:+br-$(printf %s \"$id\" | cut -c1-12)}}\";"
                f" iptables -S {chain} 2>/dev/null | sed 's/^/chain /';"
                f" iptables -S DOCKER-USER 2>/dev/null | grep -- '-j {chain}$' | sed 's/^/jump /'; true")

    def process(self, output):
        found = {"bridge": None, "chain": [], "jumps": []}
        for line in (line.strip() for line in output):
            kind, _, rest = line.partition(" ")
            if kind == "bridge":
                found["bridge"] = rest or None
            elif kind == "chain":
                found["chain"].append(rest)
            elif kind == "jump":
                found["jumps"].append(rest)
        return found
