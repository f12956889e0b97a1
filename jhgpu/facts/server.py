"""Facts about a host's network and mounts.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class DefaultAddress(FactBase):
    """The host's IPv4 address on the interface of its default route, or None."""

    requires_command = "ip"

    def command(self) -> str:
        return ("dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == \"dev\") print $(i+1)}'"
                " | head -n 1); [ -n \"$dev\" ] && ip -4 -o addr show dev \"$dev\" | awk '{print $4}' | head -n 1")

    def process(self, output):
        return "".join(output).strip().split("/")[0] or None


class MountSources(FactBase):
    """What is mounted at each of `paths`: {path: its source ("server:/export", "/dev/sdb1"), or
    None where the path is no mount point}. The topmost mount where several are stacked."""

    requires_command = "findmnt"

    def command(self, paths: list[str]) -> str:
        return "; ".join(f"printf '%s\\t%s\\n' {shlex.quote(path)} "
                         f"\"$(findmnt -n -o SOURCE --mountpoint {shlex.quote(path)} | tail -n 1)\"" for path in paths)

    def process(self, output):
        found = {}
        for line in output:
            path, _, source = line.partition("\t")
            found[path.strip()] = source.strip() or None
        return found
