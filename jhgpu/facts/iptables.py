"""Facts about the firewall rules that wall users' containers in (jhgpu/egress.py)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

OUR_CHAINS_PATTERN = "JUPYTERHUB-[A-Z]+"


def container_address_command(network: str, container: str) -> str:
    """Shell that prints the IPv4 address of `container` on Docker network `network`, or nothing.
    The fact below and the rules' script (templates/jupyterhub-egress.sh.j2) both read it so."""
    members = "{{range .Containers}}{{println .Name .IPv4Address}}{{end}}"
    return (f"docker network inspect {shlex.quote(network)} --format {shlex.quote(members)} 2>/dev/null"
            f" | awk -v name={shlex.quote(container)} '$1 == name {{sub(\"/.*\", \"\", $2); print $2}}'")


def bridge_command(network: str) -> str:
    """Shell that prints the Linux bridge of Docker network `network` (the name it was given, or
    Docker's br-<id>), or nothing without the network. Shared like the one above."""
    named = '{{index .Options "com.docker.network.bridge.name"}}'
    return (f"id=$(docker network ls -q --no-trunc --filter name=^{shlex.quote(network)}$ 2>/dev/null);"
            f" name=$([ -z \"$id\" ] || docker network inspect --format {shlex.quote(named)} \"$id\" 2>/dev/null);"
            " case \"$name\" in ''|'<no value>') [ -n \"$id\" ] && echo \"br-$(printf %s \"$id\" | cut -c1-12)\" ;;"
            " *) echo \"$name\" ;; esac; true")


class WallRules(FactBase):
    """The rules around users' containers: {"bridge": the bridge they are on (a single server's
    Hub network's, None without it; a Swarm node's, given), "hub"/"proxy": those containers'
    addresses on the network (None without), "chains": `iptables -S` of each of `chains` in turn,
    "jumps": the rules of DOCKER-USER and INPUT that jump to them}."""

    requires_command = "iptables"

    def command(self, chains: list[str], network: str | None = None, bridge: str | None = None,
                hub: str | None = None, proxy: str | None = None) -> str:
        found = [f"echo \"bridge $({bridge_command(network)})\"" if network else f"echo bridge {shlex.quote(bridge)}"]
        for kind, container in (("hub", hub), ("proxy", proxy)):
            if network and container:
                found.append(f"echo \"{kind} $({container_address_command(network, container)})\"")
        found += [f"iptables -S {chain} 2>/dev/null | sed 's/^/chain /'" for chain in chains]
        found += [f"iptables -S {parent} 2>/dev/null | grep -E -- '-j {OUR_CHAINS_PATTERN}$' | sed 's/^/jump /'"
                  for parent in ("DOCKER-USER", "INPUT")]
        return "; ".join(found) + "; true"

    def process(self, output):
        found = {"bridge": None, "hub": None, "proxy": None, "chains": [], "jumps": []}
        for line in (line.strip() for line in output):
            kind, _, rest = line.partition(" ")
            if kind in ("bridge", "hub", "proxy"):
                found[kind] = rest or None
            elif kind in ("chain", "jump"):
                found[f"{kind}s"].append(rest)
        return found
