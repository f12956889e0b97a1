"""Facts about a host's packages: what its archive offers, whether dpkg was left unfinished.
Query one by hand: pyinfra inventory.py fact jhgpu.facts.apt.AptCandidates pattern='^docker'
"""

from __future__ import annotations

import re
import shlex

from pyinfra.api import FactBase
from pyinfra.facts.apt import AptSources


class AptCandidates(FactBase):
    """What apt would install for each package whose name matches `pattern` (an extended
    regex): {name: {"version": candidate, "depends": [package names]}}. Read from the host's
    package lists; a host with none yet (a fresh cloud image ships without) gets them first,
    since what the archive offers decides what is installed."""

    default = dict  # no package matches (an archive without the component that has them): {}, not None

    def command(self, pattern: str) -> str:
        return ("if ! ls /var/lib/apt/lists 2>/dev/null | grep -q '_Packages'; then apt-get update -qq >/dev/null 2>&1;"
                f" fi; names=$(apt-cache pkgnames | grep -E {shlex.quote(pattern)} | sort);"
                " if [ -n \"$names\" ]; then apt-cache show --no-all-versions $names 2>/dev/null"
                " | grep -E '^(Package|Version|Depends):'; fi; true")

    def process(self, output):
        found, name = {}, None
        for line in output:
            field, _, value = line.partition(":")
            value = value.strip()
            if field == "Package":
                name = value
                found[name] = {"version": "", "depends": []}
            elif field == "Version" and name:
                found[name]["version"] = value
            elif field == "Depends" and name:
                found[name]["depends"] = [re.split(r"[\s(:]", alternative.strip(), maxsplit=1)[0]
                                          for part in value.split(",") for alternative in part.split("|")]
        return found


class DpkgInterrupted(FactBase):
    """Whether dpkg was interrupted mid-way (a killed deploy, a lost connection): packages left
    unpacked or half-configured, which apt refuses to work on until `dpkg --configure -a`."""

    def command(self) -> str:
        return "if [ -n \"$(ls -A /var/lib/dpkg/updates 2>/dev/null)$(dpkg --audit 2>/dev/null)\" ]; then echo yes; fi"

    def process(self, output):
        return "".join(output).strip() == "yes"


class OtherAptSources(AptSources):
    """pyinfra's AptSources (one-line .list files and deb822 .sources alike), less the file
    `besides`: the deploy's own, whose lines are decided from all the others."""

    def requires_command(self, besides: str) -> str:
        return "apt"

    def command(self, besides: str) -> str:
        return ("for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do"
                f" [ -e \"$f\" ] && [ \"$f\" != {shlex.quote(besides)} ] || continue;"
                " echo \"##PYINFRA_FILE $f\"; cat \"$f\"; echo; done")
