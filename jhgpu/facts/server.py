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


def _findmnt_each(paths: list[str], column: str) -> str:
    """findmnt's `column` of the topmost mount at each of `paths`, as "path<TAB>value" lines."""
    return "; ".join(f"printf '%s\\t%s\\n' {shlex.quote(path)} "
                     f"\"$(findmnt -n -o {column} --mountpoint {shlex.quote(path)} | tail -n 1)\"" for path in paths)


def _by_path(output) -> dict[str, str | None]:
    found = {}
    for line in output:
        path, _, value = line.partition("\t")
        found[path.strip()] = value.strip() or None
    return found


class MountSources(FactBase):
    """What is mounted at each of `paths`: {path: its source ("server:/export", "/dev/sdb1"), or
    None where the path is no mount point}. The topmost mount where several are stacked."""

    requires_command = "findmnt"

    def command(self, paths: list[str]) -> str:
        return _findmnt_each(paths, "SOURCE")

    def process(self, output):
        return _by_path(output)


class MountOptions(FactBase):
    """The options each of `paths` is mounted with: {path: ["rw", "nosuid", ...], or None where
    the path is no mount point}. The topmost mount where several are stacked."""

    requires_command = "findmnt"

    def command(self, paths: list[str]) -> str:
        return _findmnt_each(paths, "OPTIONS")

    def process(self, output):
        return {path: options.split(",") if options else None for path, options in _by_path(output).items()}


class HostAddresses(FactBase):
    """The host's own global IPv4 addresses, less those of Docker's bridges and veths."""

    requires_command = "ip"

    def command(self) -> str:
        return ("ip -4 -o addr show scope global"
                " | awk '$2 !~ /^(docker|br-|veth)/ && $2 !~ /-br$/ {sub(\"/.*\", \"\", $4); print $4}'")

    def process(self, output):
        return sorted({line.strip() for line in output if line.strip()})


class KernelHasEsp(FactBase):
    """Whether the running kernel can do IPsec ESP (esp4, built in or as a module), which an
    encrypted overlay network needs. Read from sysfs and the kernel's module lists: no modprobe."""

    def command(self) -> str:
        return ("m=/lib/modules/$(uname -r); if [ -d /sys/module/esp4 ] || grep -qs '/esp4\\.ko' $m/modules.builtin $m/modules.dep;"
                " then echo yes; else echo no; fi")

    def process(self, output):
        return "".join(output).strip() == "yes"


class FilesystemOf(FactBase):
    """The filesystem holding `path` (or, before it exists, its nearest existing parent):
    {"type": "xfs", "options": ["rw", "prjquota", ...], "mountpoint": "/home"}."""

    requires_command = "findmnt"

    def command(self, path: str) -> str:
        return (f"p={shlex.quote(path)}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; "
                "findmnt -n -o FSTYPE,OPTIONS,TARGET -T \"$p\"")

    def process(self, output):
        fstype, options, mountpoint = output[0].split(None, 2)
        return {"type": fstype, "options": options.split(","), "mountpoint": mountpoint.strip()}
