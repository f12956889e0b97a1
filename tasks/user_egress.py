"""Users' containers may not reach user_blocked_addresses (a cloud's metadata service, by
default): firewall rules on the Hub's network, kept by a systemd unit across reboots."""

from io import StringIO

from pyinfra import host, logger
from pyinfra.operations import files, systemd

from jhgpu.egress import SCRIPT, UNIT, egress_files
from jhgpu.fleet import role
from jhgpu.operations.iptables import user_egress_blocked
from jhgpu.swarm import MANAGER

if role(host) == MANAGER:  # the rules act on a single server's bridge network; an overlay's differ
    host.log("Warning: user_blocked_addresses is not enforced yet for servers in a Swarm", logger.warning)
else:
    rendered = egress_files(host.data)
    files.put(name="Write the rules for user_blocked_addresses", src=StringIO(rendered.script), dest=SCRIPT,
              mode="755")
    unit = files.put(name=f"Write {UNIT}", src=StringIO(rendered.unit), dest=f"/etc/systemd/system/{UNIT}",
                     mode="644")
    systemd.service(name=f"Run {UNIT} whenever Docker starts", service=UNIT, enabled=True,
                    daemon_reload=unit.will_change)
    user_egress_blocked(name="Keep users' containers from user_blocked_addresses", data=host.data, unit=UNIT)
