"""The firewall rules that keep users' containers from each other and from blocked addresses."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from jhgpu.egress import CHAIN, rules_in_force
from jhgpu.facts.iptables import EgressRules
from jhgpu.hub import HubNames

q = shlex.quote


@operation()
def user_egress_blocked(data, unit: str):
    """The rules (jhgpu/egress.py) in force: (re)applied by their systemd unit when the live rules
    differ (new settings, a Hub network made anew, a Hub at another address)."""
    names = HubNames.of(data)
    if rules_in_force(data, host.get_fact(EgressRules, network=names.network, chain=CHAIN, hub=names.container)):
        host.noop("users' containers are kept from each other and from the blocked addresses")
        return
    yield f"systemctl restart {q(unit)}"
