"""The firewall rules that wall users' containers in (jhgpu/egress.py)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from jhgpu.egress import CHAINS, Walls, rules_in_force
from jhgpu.facts.iptables import WallRules


@operation()
def users_walled_in(plan: Walls, unit: str):
    """The rules in force: (re)applied by their systemd unit when the live rules differ (new
    settings, a Hub network made anew, a Hub at another address, a node added)."""
    live = host.get_fact(WallRules, chains=list(CHAINS), network=plan.network, bridge=plan.bridge,
                         hub=plan.hub_container, proxy=plan.proxy_container)
    if rules_in_force(plan, live):
        host.noop("users' containers are walled in")
        return
    yield f"systemctl restart {shlex.quote(unit)}"
