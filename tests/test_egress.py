"""Users' containers kept from each other and from user_blocked_addresses: the rendered rules,
run against stand-in `docker` and `iptables` commands that record what they are asked (the live
rules are tested on a test-bed host in test_e2e_hub.py)."""

from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest

from jhgpu.egress import CHAIN, egress_files, rules_in_force
from jhgpu.settings import SettingsError, validate
from recorded import default_settings

NETWORK_ID = "0123456789abcdef" * 4


def settings(**overrides) -> SimpleNamespace:
    return SimpleNamespace(**{**default_settings(), **overrides})


BRIDGE = f"br-{NETWORK_ID[:12]}"
HUB_ADDRESS = "172.18.0.2"
MEMBERS = f"jupyter-alice 172.18.0.3/16\njupyterhub-hub {HUB_ADDRESS}/16\njupyterhub-proxy 172.18.0.4/16"


def run_script(tmp_path, script: str, existing_jumps: str = "", network_id: str = NETWORK_ID,
               members: str = MEMBERS) -> list[str]:
    """Run the rendered script with stand-ins on PATH; return the iptables calls it made."""
    log = tmp_path / "iptables.log"
    (tmp_path / "docker").write_text(
        f"#!/bin/sh\nif [ \"$2\" = inspect ]; then printf '%s\\n' '{members}'; else echo {network_id}; fi\n")
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


def test_users_are_kept_from_each_other_and_the_metadata_service_by_default(tmp_path):
    calls = run_script(tmp_path, egress_files(settings()).script)
    assert calls == [
        f"-N {CHAIN}",
        # On the Hub's network: replies pass, the Hub reaches everyone and everyone the Hub,
        # anything else between two containers there is refused.
        f"-A {CHAIN} -o {BRIDGE} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {CHAIN} -s {HUB_ADDRESS} -o {BRIDGE} -j RETURN",
        f"-A {CHAIN} -d {HUB_ADDRESS} -o {BRIDGE} -j RETURN",
        f"-A {CHAIN} -o {BRIDGE} -j REJECT --reject-with icmp-port-unreachable",
        f"-A {CHAIN} -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable",
        "-S DOCKER-USER",
        f"-I DOCKER-USER -i {BRIDGE} -j {CHAIN}",
    ]


def test_without_the_hub_on_its_network_only_the_addresses_are_blocked(tmp_path):
    calls = run_script(tmp_path, egress_files(settings()).script, members="jupyter-alice 172.18.0.3/16")
    assert calls == [f"-N {CHAIN}", f"-A {CHAIN} -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable",
                     "-S DOCKER-USER", f"-I DOCKER-USER -i {BRIDGE} -j {CHAIN}"]


def test_a_jump_for_an_older_bridge_is_replaced(tmp_path):
    stale = f"-A DOCKER-USER -i br-oldoldoldold -j {CHAIN}\n"
    calls = run_script(tmp_path, egress_files(settings(user_blocked_addresses=["10.0.0.0/8"])).script, stale)
    assert f"-D DOCKER-USER -i br-oldoldoldold -j {CHAIN}" in calls
    assert f"-A {CHAIN} -d 10.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable" in calls


def test_without_the_hubs_network_the_script_changes_nothing(tmp_path):
    assert run_script(tmp_path, egress_files(settings()).script, network_id="") == []


def test_live_rules_are_compared_exactly():
    data = settings()
    # As `iptables -S` prints what the script above applied.
    live = {"bridge": BRIDGE, "hub": HUB_ADDRESS, "jumps": [f"-A DOCKER-USER -i {BRIDGE} -j {CHAIN}"], "chain": [
        f"-N {CHAIN}", f"-A {CHAIN} -o {BRIDGE} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {CHAIN} -s {HUB_ADDRESS}/32 -o {BRIDGE} -j RETURN", f"-A {CHAIN} -d {HUB_ADDRESS}/32 -o {BRIDGE} -j RETURN",
        f"-A {CHAIN} -o {BRIDGE} -j REJECT --reject-with icmp-port-unreachable",
        f"-A {CHAIN} -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable"]}
    assert rules_in_force(data, live)
    assert not rules_in_force(settings(user_blocked_addresses=[]), live)  # a setting changed
    assert not rules_in_force(data, {**live, "bridge": "br-newnewnewnew"})  # the network was made anew
    assert not rules_in_force(data, {**live, "hub": "172.18.0.9"})  # the Hub came back at another address
    assert not rules_in_force(data, {**live, "jumps": live["jumps"] * 2})
    assert not rules_in_force(data, None)


@pytest.mark.parametrize("value", ["metadata", "169.254.169.254/33", "fd00:ec2::254", 42])
def test_bad_blocked_addresses_are_refused(value):
    with pytest.raises(SettingsError, match="setting 'user_blocked_addresses' item 0: must be"):
        validate("gpu01", {**default_settings(), "user_blocked_addresses": [value]})
