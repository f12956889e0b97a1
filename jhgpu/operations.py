"""Custom operations shared by tasks."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt


@operation()
def apt_install(packages: list[str] | tuple[str, ...]):
    """Install packages, refreshing the apt lists only when something is missing.

    apt.packages(update=True) would refresh the lists on every run and so never converge.
    """
    installed = host.get_fact(DebPackages)
    missing = [name for name in packages if name not in installed]
    if missing:
        yield from apt.update._inner()
        yield from apt.packages._inner(packages=missing)
