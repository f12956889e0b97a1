"""Walls around users' containers, on every node (jhgpu/egress.py decides them): firewall rules
kept by a systemd unit across Docker restarts and reboots."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, systemd

from jhgpu.egress import SCRIPT, UNIT, egress_files, walls
from jhgpu.fleet import advertise_address, node_addresses, role
from jhgpu.operations.iptables import users_walled_in
from jhgpu.swarm import MANAGER, SINGLE

node_role = role(host)
plan = walls(host.data, node_role, node_addresses(host) if node_role != SINGLE else (),
             registry=(advertise_address(host), host.data.registry_port) if node_role == MANAGER else None)
rendered = egress_files(plan)
files.put(name="Write the rules that wall users' containers in", src=StringIO(rendered.script), dest=SCRIPT,
          mode="755")
unit = files.put(name=f"Write {UNIT}", src=StringIO(rendered.unit), dest=f"/etc/systemd/system/{UNIT}",
                 mode="644")
systemd.service(name=f"Run {UNIT} whenever Docker starts", service=UNIT, enabled=True,
                daemon_reload=unit.will_change)
users_walled_in(name="Wall users' containers in: no other user's server, no host's service, no blocked address",
                plan=plan, unit=UNIT)
