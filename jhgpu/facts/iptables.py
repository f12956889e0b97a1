"""Facts about the firewall rules that keep users' containers from each other and from blocked
addresses."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


def container_address_command(network: str, container: str) -> str:
    """Shell that prints the IPv4 address of `container` on Docker network `network`, or nothing.
    The fact below and the rules' script (templates/jupyterhub-egress.sh.j2) both read it so."""
    members = "{{range .Containers}}{{println .Name .IPv4Address}}{{end}}"
    return (f"docker network inspect {shlex.quote(network)} --format {shlex.quote(members)} 2>/dev/null"
            f" | awk -v name={shlex.quote(container)} '$1 == name {{sub(\"/.*\", \"\", $2); print $2}}'")


class EgressRules(FactBase):
    """The firewall rules around the Hub network's containers: {"bridge": the network's bridge
    ("br-..."; None without the network), "hub": the address of the container `hub` there (None
    without), "chain": the lines of `iptables -S <chain>`, "jumps": DOCKER-USER's jumps to it}."""

    requires_command = "iptables"

    def command(self, network: str, chain: str, hub: str) -> str:
        return (f"id=$(docker network ls -q --no-trunc --filter name=^{shlex.quote(network)}$ 2>/dev/null);"
                f" echo \"bridge ${{id:+br-$(printf %s \"$id\" | cut -c1-12)}}\";"
                f" echo \"hub $({container_address_command(network, hub)})\";"
                f" iptables -S {chain} 2>/dev/null | sed 's/^/chain /';"
                f" iptables -S DOCKER-USER 2>/dev/null | grep -- '-j {chain}$' | sed 's/^/jump /'; true")

    def process(self, output):
        found = {"bridge": None, "hub": None, "chain": [], "jumps": []}
        for line in (line.strip() for line in output):
            kind, _, rest = line.partition(" ")
            if kind in ("bridge", "hub"):
                found[kind] = rest or None
            elif kind == "chain":
                found["chain"].append(rest)
            elif kind == "jump":
                found["jumps"].append(rest)
        return found
