"""Walls around users' containers, as firewall rules. Decisions only, no I/O.

Users' containers are, on a single server, every container on the Hub's network but the Hub and
its proxy; on a Swarm node, every container that leaves the node through `docker_gwbridge` (the
bridge Docker gives containers on an overlay network for their way out). Their traffic is held to:
- no other user's server: on a single server's network only the Hub reaches them, and they reach
  only the Hub there (Zero to JupyterHub draws the same wall with network policies). Across a
  Swarm, servers meet on the overlay, which these rules do not see (README, "What is exposed");
- none of the hosts' own services: nothing addressed to this host (the INPUT chain: SSH, the
  Docker API, NFS, Swarm's ports) but DNS, no port it publishes (connections Docker's DNAT sent
  on, such as the registry's), and on a Swarm no address of another node;
- none of user_blocked_addresses (a cloud's metadata service, by default), on every node.
On a Swarm's manager the image registry answers the nodes' addresses only: anyone else, users'
containers included, could otherwise push to it and fill its disk.

Docker leaves its DOCKER-USER chain (forwarded traffic) to the admin, and never touches INPUT;
chains of our own hold the rules, and a systemd unit (re)applies them whenever Docker starts
(iptables rules do not survive a reboot). The Hub's and the proxy's addresses are read when the
rules are applied (the containers may come back at other addresses); the deploy reapplies them
whenever the live rules differ. IPv4 only: the deploy makes the Hub's network without IPv6, so
users' containers have no IPv6 route to block.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from jhgpu.facts.iptables import bridge_command, container_address_command
from jhgpu.hub import HubNames, render
from jhgpu.swarm import SINGLE
from jhgpu.tls import proxy_container

CHAIN = "JUPYTERHUB-EGRESS"  # forwarded traffic from users' containers (jumped to from DOCKER-USER)
INPUT_CHAIN = "JUPYTERHUB-INPUT"  # their traffic to this host's own addresses (jumped to from INPUT)
REGISTRY_CHAIN = "JUPYTERHUB-REGISTRY"  # who reaches the Swarm's registry (DOCKER-USER)
CHAINS = (CHAIN, INPUT_CHAIN, REGISTRY_CHAIN)
SWARM_BRIDGE = "docker_gwbridge"
UNIT = "jupyterhub-egress.service"
SCRIPT = "/usr/local/sbin/jupyterhub-egress"
REJECT = "-j REJECT --reject-with icmp-port-unreachable"
REPLIES = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"


def networks(addresses) -> list[str]:
    """Each address or network as iptables prints it ("169.254.169.254/32")."""
    return [str(ipaddress.ip_network(address, strict=False)) for address in addresses]


@dataclass(frozen=True)
class Rule:
    """One line as `iptables -S` prints it. {bridge}, {hub} and {proxy} stand for what is read
    when the rules are applied; a rule that `needs` the Hub or the proxy is left out while that
    container is not on the network."""

    line: str
    needs: str | None = None

    def applied(self, found: dict) -> str | None:
        if self.needs and not found.get(self.needs):
            return None
        return self.line.format(**found)


@dataclass(frozen=True)
class Walls:
    """The rules of one host: `network` (a single server's Hub network, whose bridge is read when
    the rules are applied) or `bridge` (a Swarm node's), and the rules in order."""

    network: str | None
    bridge: str | None
    hub_container: str | None
    proxy_container: str | None
    rules: tuple[Rule, ...]


def dns_passes(chain: str) -> list[Rule]:
    """DNS, over UDP and TCP: a host or a node may be the containers' DNS server."""
    return [Rule(f"-A {chain} -p {protocol} -m {protocol} --dport 53 -j RETURN") for protocol in ("udp", "tcp")]


def walls(data, role: str, node_addresses=(), registry: tuple[str, int] | None = None) -> Walls:
    """The rules for a host of `role` ("single", "manager", "worker"); on a Swarm, every node's
    addresses, and on its manager the registry's (address, port)."""
    single = role == SINGLE
    names = HubNames.of(data)
    nodes = networks(sorted(set(node_addresses))) if not single else []
    forward = [Rule(f"-N {CHAIN}"), Rule(f"-A {CHAIN} {REPLIES}"),
               *(Rule(f"-A {CHAIN} -d {network} {REJECT}") for network in networks(data.user_blocked_addresses))]
    to_host = [Rule(f"-N {INPUT_CHAIN}"), Rule(f"-A {INPUT_CHAIN} {REPLIES}")]
    if single:  # the Hub and its proxy are ours: only users' containers are walled in
        forward += [Rule(f"-A {CHAIN} -s {{hub}}/32 -j RETURN", "hub"),
                    Rule(f"-A {CHAIN} -s {{proxy}}/32 -j RETURN", "proxy"),
                    Rule(f"-A {CHAIN} -d {{hub}}/32 -o {{bridge}} -j RETURN", "hub")]
        to_host += [Rule(f"-A {INPUT_CHAIN} -s {{hub}}/32 -j RETURN", "hub"),
                    Rule(f"-A {INPUT_CHAIN} -s {{proxy}}/32 -j RETURN", "proxy")]
    forward.append(Rule(f"-A {CHAIN} -m conntrack --ctstate DNAT {REJECT}"))  # this host's published ports
    if nodes:
        forward += [*dns_passes(CHAIN), *(Rule(f"-A {CHAIN} -d {node} {REJECT}") for node in nodes)]
    if single:  # anything else between two containers on the Hub's network; without the Hub
        # there, users' servers cannot be told from it, and they stay open to each other
        forward.append(Rule(f"-A {CHAIN} -o {{bridge}} {REJECT}", "hub"))
    to_host += [*dns_passes(INPUT_CHAIN), Rule(f"-A {INPUT_CHAIN} {REJECT}")]
    to_registry = [Rule(f"-N {REGISTRY_CHAIN}")]
    jumps = [Rule(f"-A DOCKER-USER -i {{bridge}} -j {CHAIN}"), Rule(f"-A INPUT -i {{bridge}} -j {INPUT_CHAIN}")]
    if registry:
        address, port = registry
        to_registry += [Rule(f"-A {REGISTRY_CHAIN} {REPLIES}"),
                        *(Rule(f"-A {REGISTRY_CHAIN} -s {node} -j RETURN") for node in nodes),
                        Rule(f"-A {REGISTRY_CHAIN} {REJECT}")]
        jumps.append(Rule(f"-A DOCKER-USER -p tcp -m conntrack --ctorigdst {address} --ctorigdstport {port}"
                          f" -j {REGISTRY_CHAIN}"))
    return Walls(network=names.network if single else None, bridge=None if single else SWARM_BRIDGE,
                 hub_container=names.container if single else None,
                 proxy_container=proxy_container(data) if single else None,
                 rules=(*forward, *to_host, *to_registry, *jumps))


def is_jump(line: str) -> bool:
    return line.startswith(("-A DOCKER-USER ", "-A INPUT "))


def wanted_rules(plan: Walls, found: dict) -> list[str]:
    """The lines `iptables -S` prints once the rules are in force, for what the host has now
    (`found`: "bridge", "hub", "proxy")."""
    return [line for rule in plan.rules if (line := rule.applied(found)) is not None]


def rules_in_force(plan: Walls, live: dict | None) -> bool:
    """Whether the host's live rules (the WallRules fact) are exactly the plan's: our chains line
    by line, in order, and one jump of each (jumps are inserted first in their chains)."""
    if not live or not live["bridge"]:
        return False
    wanted = wanted_rules(plan, live)
    return (live["chains"] == [line for line in wanted if not is_jump(line)]
            and sorted(live["jumps"]) == sorted(line for line in wanted if is_jump(line)))


@dataclass(frozen=True)
class EgressFiles:
    script: str
    unit: str


def egress_files(plan: Walls) -> EgressFiles:
    shell = {"bridge": "$bridge", "hub": "$hub_ip", "proxy": "$proxy_ip"}
    commands = []
    for rule in plan.rules:
        line = rule.line.format(**shell)
        command = "iptables " + ("-I " + line[3:] if is_jump(line) else line)
        commands.append(f'[ -z "{shell[rule.needs]}" ] || {command}' if rule.needs else command)
    context = {"network": plan.network, "bridge": plan.bridge, "chains": CHAINS, "unit": UNIT, "script": SCRIPT,
               "commands": commands, "hub_container": plan.hub_container,
               "bridge_command": bridge_command(plan.network) if plan.network else None,
               "hub_address": plan.network and container_address_command(plan.network, plan.hub_container),
               "proxy_address": plan.network and plan.proxy_container
               and container_address_command(plan.network, plan.proxy_container)}
    return EgressFiles(script=render("jupyterhub-egress.sh.j2", context),
                       unit=render("jupyterhub-egress.service.j2", context))
