"""Apt sources and packages, converging without a refresh on every run.
"""

from __future__ import annotations

import io
import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.apt import noninteractive_apt
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files

from jhgpu.facts.apt import DpkgInterrupted


@operation()
def signed_apt_source(source: str, lines: list[str], key_url: str | None = None, keyring: str | None = None):
    """/etc/apt/sources.list.d/<source>.list written whole (so a changed mirror replaces the old
    line), and the key at `key_url` in `keyring`, fetched when the file is missing: the
    keyring's name carries a digest of its URL (see jhgpu.platform.keyring_path), so a new key
    URL means a new file."""
    if key_url:
        yield from files.directory._inner(path="/etc/apt/keyrings", mode="755")
        yield from files.download._inner(src=key_url, dest=keyring, mode="644")
    content = "".join(f"{line}\n" for line in lines)
    yield from files.put._inner(src=io.StringIO(content), dest=f"/etc/apt/sources.list.d/{source}.list", mode="644")


@operation()
def apt_install(packages: list[str] | tuple[str, ...], removed: list[str] | tuple[str, ...] = ()):
    """Install packages ("name", or "name=version" for an exact version, up or down), refreshing
    the apt lists only when something is missing; `removed`, where installed, go in the same apt
    run (packages that cannot stay beside the new ones, e.g. the other kernel module flavour).

    apt.packages(update=True) would refresh the lists on every run and so never converge.
    A dpkg run an earlier deploy left unfinished (killed, or its connection lost) is finished first.
    """
    if host.get_fact(DpkgInterrupted):
        yield "DEBIAN_FRONTEND=noninteractive dpkg --configure -a --force-confdef --force-confold"
    installed = host.get_fact(DebPackages)

    def missing(package: str) -> bool:
        name, _, version = package.partition("=")
        return name not in installed or bool(version) and version not in installed[name]

    wanted = [package for package in packages if missing(package)]
    leaving = [package for package in removed if package in installed]
    if leaving:
        yield from apt.update._inner()
        # apt's "name-" removes in the same transaction: never a moment with both, or with neither.
        yield noninteractive_apt(" ".join(["install", *map(shlex.quote, wanted), *(f"{shlex.quote(p)}-" for p in leaving)]))
    elif wanted:
        yield from apt.update._inner()
        yield from apt.packages._inner(packages=wanted, allow_downgrades=any("=" in p for p in wanted))
