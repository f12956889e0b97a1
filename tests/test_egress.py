"""Walls around users' containers: the rendered rules, run against stand-in `docker` and
`iptables` commands that record what they are asked (the live rules are tested on test-bed hosts
in test_e2e_hub.py and test_e2e_swarm.py)."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest

from jhgpu.egress import CHAIN, INPUT_CHAIN, REGISTRY_CHAIN, egress_files, rules_in_force, walls, wanted_rules
from jhgpu.settings import SettingsError, validate
from recorded import default_settings

NETWORK_ID = "0123456789abcdef" * 4
BRIDGE = "jupyterhub-br"
HUB, PROXY = "172.18.0.2", "172.18.0.4"
MEMBERS = f"jupyter-alice 172.18.0.3/16\njupyterhub-hub {HUB}/16\njupyterhub-proxy {PROXY}/16"
REJECT = "-j REJECT --reject-with icmp-port-unreachable"
START_AFRESH = ["-S DOCKER-USER", "-S INPUT",
                *(f"{flag} {chain}" for chain in (CHAIN, INPUT_CHAIN, REGISTRY_CHAIN) for flag in ("-F", "-X"))]


def settings(**overrides) -> SimpleNamespace:
    return SimpleNamespace(**{**default_settings(), **overrides})


def run_script(tmp_path, script: str, existing_jumps: str = "", network_id: str = NETWORK_ID,
               members: str = MEMBERS, bridge_option: str = BRIDGE) -> list[str]:
    """Run the rendered script with stand-ins on PATH; return the iptables calls it made."""
    log = tmp_path / "iptables.log"
    (tmp_path / "docker").write_text(
        "#!/bin/sh\n"
        f"case \"$*\" in *ls*) echo {network_id} ;; *Options*) echo '{bridge_option}' ;;"
        f" *inspect*) printf '%s\\n' '{members}' ;; esac\n")
    (tmp_path / "sleep").write_text("#!/bin/sh\n")  # the wait for a Hub that is not there, made short
    (tmp_path / "iptables").write_text(
        f"#!/bin/sh\necho \"$*\" >> {log}\n"
        f"if [ \"$1\" = -S ]; then printf '%s' '{existing_jumps}'; fi\n")
    for name in ("docker", "iptables", "sleep"):
        (tmp_path / name).chmod(0o755)
    (tmp_path / "egress.sh").write_text(script)
    subprocess.run(["sh", str(tmp_path / "egress.sh")], check=True,
                   env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    return log.read_text().splitlines() if log.exists() else []


def single(**overrides):
    return walls(settings(**overrides), "single")


def test_on_one_server_users_reach_only_the_hub_and_nothing_of_the_host(tmp_path):
    calls = run_script(tmp_path, egress_files(single()).script)
    assert calls == START_AFRESH + [
        f"-N {CHAIN}",
        f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",  # replies pass
        f"-A {CHAIN} -d 169.254.169.254/32 {REJECT}",  # the metadata service: nobody
        f"-A {CHAIN} -s {HUB}/32 -j RETURN", f"-A {CHAIN} -s {PROXY}/32 -j RETURN",  # ours
        f"-A {CHAIN} -d {HUB}/32 -o {BRIDGE} -j RETURN",  # users reach the Hub...
        f"-A {CHAIN} -m conntrack --ctstate DNAT {REJECT}",  # ...not the host's published ports...
        f"-A {CHAIN} -o {BRIDGE} {REJECT}",  # ...nor each other
        f"-N {INPUT_CHAIN}",  # nor the host's own services, but DNS
        f"-A {INPUT_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {INPUT_CHAIN} -s {HUB}/32 -j RETURN", f"-A {INPUT_CHAIN} -s {PROXY}/32 -j RETURN",
        f"-A {INPUT_CHAIN} -p udp -m udp --dport 53 -j RETURN", f"-A {INPUT_CHAIN} -p tcp -m tcp --dport 53 -j RETURN",
        f"-A {INPUT_CHAIN} {REJECT}",
        f"-N {REGISTRY_CHAIN}",  # a single server has no registry
        f"-I DOCKER-USER -i {BRIDGE} -j {CHAIN}", f"-I INPUT -i {BRIDGE} -j {INPUT_CHAIN}",
    ]


def test_a_network_compose_made_before_is_walled_by_its_docker_bridge(tmp_path):
    calls = run_script(tmp_path, egress_files(single()).script, bridge_option="<no value>")
    assert f"-I DOCKER-USER -i br-{NETWORK_ID[:12]} -j {CHAIN}" in calls


def test_without_the_hub_on_its_network_users_are_still_kept_from_the_host(tmp_path):
    calls = run_script(tmp_path, egress_files(single(hub_tls="off")).script, members="jupyter-alice 172.18.0.3/16")
    assert not any(HUB in call or PROXY in call or f"-o {BRIDGE} {REJECT}" in call for call in calls), calls
    assert f"-A {INPUT_CHAIN} {REJECT}" in calls and f"-A {CHAIN} -d 169.254.169.254/32 {REJECT}" in calls


def test_jumps_left_from_before_are_removed(tmp_path):
    # As `iptables -S` prints each chain: a header line, then the rules.
    stale = f"-N HEADER\n-A CHAIN -j ACCEPT\n-A CHAIN -i br-oldoldoldold -j {CHAIN}\n-A CHAIN -i br-old -j {INPUT_CHAIN}\n"
    calls = run_script(tmp_path, egress_files(single(user_blocked_addresses=["10.0.0.0/8"])).script, stale)
    for parent in ("DOCKER-USER", "INPUT"):  # by number, last first
        assert calls[calls.index(f"-S {parent}") + 1:][:2] == [f"-D {parent} 3", f"-D {parent} 2"], calls
    assert f"-A {CHAIN} -d 10.0.0.0/8 {REJECT}" in calls


def test_without_the_hubs_network_the_script_changes_nothing(tmp_path):
    assert run_script(tmp_path, egress_files(single()).script, network_id="", bridge_option="") == []


NODES = ["10.1.0.5", "10.1.0.6", "192.0.2.7"]


def test_on_a_swarm_worker_users_reach_no_node_and_no_blocked_address(tmp_path):
    calls = run_script(tmp_path, egress_files(walls(settings(), "worker", NODES)).script)
    rules = calls[len(START_AFRESH):]
    assert rules == [
        f"-N {CHAIN}", f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {CHAIN} -d 169.254.169.254/32 {REJECT}", f"-A {CHAIN} -m conntrack --ctstate DNAT {REJECT}",
        f"-A {CHAIN} -p udp -m udp --dport 53 -j RETURN", f"-A {CHAIN} -p tcp -m tcp --dport 53 -j RETURN",
        *(f"-A {CHAIN} -d {node}/32 {REJECT}" for node in NODES),  # the Hub's server's NFS and registry too
        f"-N {INPUT_CHAIN}", f"-A {INPUT_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {INPUT_CHAIN} -p udp -m udp --dport 53 -j RETURN", f"-A {INPUT_CHAIN} -p tcp -m tcp --dport 53 -j RETURN",
        f"-A {INPUT_CHAIN} {REJECT}", f"-N {REGISTRY_CHAIN}",
        # Servers on an overlay network leave their node through docker_gwbridge, whatever the overlay.
        f"-I DOCKER-USER -i docker_gwbridge -j {CHAIN}", f"-I INPUT -i docker_gwbridge -j {INPUT_CHAIN}"]


def test_on_a_swarm_manager_the_registry_answers_the_nodes_only(tmp_path):
    calls = run_script(tmp_path, egress_files(walls(settings(), "manager", NODES, ("10.1.0.5", 5000))).script)
    assert calls[calls.index(f"-N {REGISTRY_CHAIN}"):] == [
        f"-N {REGISTRY_CHAIN}", f"-A {REGISTRY_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        *(f"-A {REGISTRY_CHAIN} -s {node}/32 -j RETURN" for node in NODES), f"-A {REGISTRY_CHAIN} {REJECT}",
        f"-I DOCKER-USER -i docker_gwbridge -j {CHAIN}", f"-I INPUT -i docker_gwbridge -j {INPUT_CHAIN}",
        # Matched on the address asked for, before Docker's DNAT sent it to the registry's container.
        f"-I DOCKER-USER -p tcp -m conntrack --ctorigdst 10.1.0.5 --ctorigdstport 5000 -j {REGISTRY_CHAIN}"]


def live_rules(plan, found: dict) -> dict:
    """What the WallRules fact reads once the script has applied `plan` (jumps come first)."""
    wanted = wanted_rules(plan, found)
    return {**found, "chains": [line for line in wanted if not line.startswith(("-A DOCKER-USER", "-A INPUT "))],
            "jumps": [line for line in wanted if line.startswith(("-A DOCKER-USER", "-A INPUT "))][::-1]}


def test_live_rules_are_compared_exactly():
    plan = single()
    live = live_rules(plan, {"bridge": BRIDGE, "hub": HUB, "proxy": PROXY})
    assert f"-A {CHAIN} -s {HUB}/32 -j RETURN" in live["chains"]
    assert rules_in_force(plan, live)
    assert not rules_in_force(single(user_blocked_addresses=[]), live)  # a setting changed
    assert not rules_in_force(plan, {**live, "bridge": "br-newnewnewnew"})  # another network
    assert not rules_in_force(plan, {**live, "hub": "172.18.0.9"})  # the Hub came back at another address
    assert not rules_in_force(plan, {**live, "jumps": live["jumps"] * 2})
    assert not rules_in_force(plan, {**live, "chains": live["chains"][::-1]})  # order matters
    assert not rules_in_force(plan, None)
    worker = walls(settings(), "worker", NODES)
    assert rules_in_force(worker, live_rules(worker, {"bridge": "docker_gwbridge"}))
    assert not rules_in_force(walls(settings(), "worker", NODES[:2]), live_rules(worker, {"bridge": "docker_gwbridge"}))


@pytest.mark.parametrize("value", ["metadata", "169.254.169.254/33", "fd00:ec2::254", 42])
def test_bad_blocked_addresses_are_refused(value):
    with pytest.raises(SettingsError, match="setting 'user_blocked_addresses' item 0: must be"):
        validate("gpu01", {**default_settings(), "user_blocked_addresses": [value]})
