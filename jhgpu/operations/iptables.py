"""The firewall rules that keep users' containers from blocked addresses.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from jhgpu.facts.iptables import EgressRules
from jhgpu.hub import HubNames

q = shlex.quote


@operation()
def user_egress_blocked(data, unit: str):
    """The rules for user_blocked_addresses in force: (re)applied by their systemd unit when the
    live rules differ (new settings, a Hub network made anew)."""
    from jhgpu.egress import CHAIN, rules_in_force

    if rules_in_force(data, host.get_fact(EgressRules, network=HubNames.of(data).network, chain=CHAIN)):
        host.noop("users' containers are kept from the blocked addresses")
        return
    yield f"systemctl restart {q(unit)}"
