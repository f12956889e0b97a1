"""Users' containers may not reach user_blocked_addresses (a cloud's metadata service, by
default): firewall rules on the Hub's network, kept by a systemd unit across reboots."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, systemd

from jhgpu.egress import SCRIPT, UNIT, egress_files
from jhgpu.operations import user_egress_blocked

rendered = egress_files(host.data)
files.put(name="Write the rules for user_blocked_addresses", src=StringIO(rendered.script), dest=SCRIPT,
          mode="755")
unit = files.put(name=f"Write {UNIT}", src=StringIO(rendered.unit), dest=f"/etc/systemd/system/{UNIT}", mode="644")
systemd.service(name=f"Run {UNIT} whenever Docker starts", service=UNIT, enabled=True,
                daemon_reload=unit.will_change)
user_egress_blocked(name="Keep users' containers from user_blocked_addresses", data=host.data, unit=UNIT)
