"""Which operating systems the deploy supports, and what each needs. Decisions only, no I/O.

Everything here takes facts (pyinfra's `server.LinuxDistribution`) and settings, and returns
plain values, so each OS is tested with recorded facts (tests/test_platform.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError


class UnsupportedHost(PyinfraError):
    """The host runs an OS this deploy does not support."""


@dataclass(frozen=True)
class Release:
    distro: str  # "ubuntu" or "debian": also the path segment of Docker's and NVIDIA's repos
    version: str  # "20.04", "12"
    codename: str  # "focal", "bookworm"

    def __str__(self) -> str:
        return f"{self.distro.capitalize()} {self.version} ({self.codename})"


SUPPORTED = (
    Release("ubuntu", "20.04", "focal"),
    Release("ubuntu", "22.04", "jammy"),
    Release("ubuntu", "24.04", "noble"),
    Release("debian", "12", "bookworm"),
    Release("debian", "13", "trixie"),
)


def supported_release(host_name: str, distribution: dict | None) -> Release:
    """The host's release from the LinuxDistribution fact, or UnsupportedHost naming it."""
    distribution = distribution or {}
    meta = distribution.get("release_meta") or {}
    distro = (meta.get("ID") or distribution.get("name") or "").lower()
    version = meta.get("VERSION_ID") or ""
    for release in SUPPORTED:
        if (release.distro, release.version) == (distro, version):
            return release
    found = meta.get("PRETTY_NAME") or f"{distro or 'an unknown OS'} {version}".strip()
    supported = ", ".join(str(release) for release in SUPPORTED)
    raise UnsupportedHost(
        f"host '{host_name}' runs {found}, which this deploy does not support. Supported: {supported}."
    )


@dataclass(frozen=True)
class DockerPlan:
    """How Docker and Compose get onto a host."""

    packages: tuple[str, ...]
    compose_command: str  # "docker compose" (v2 plugin) or "docker-compose" (v1)
    apt_repo_url: str | None = None  # Docker's own repository, for docker-ce


# Docker's own packages and the OS archive's conflict (docker-ce: "Conflicts: docker.io"), so apt
# would remove one for the other, stopping every container: refused instead, before any change.
DOCKER_CE_PACKAGES = ("docker-ce", "docker-ce-cli")
DISTRO_DOCKER_PACKAGES = ("docker.io",)
# Each pair ships the same plugin file (/usr/libexec/docker/cli-plugins/...): an OS package is
# not installed where Docker's plugin already provides the command.
DOCKER_CE_PLUGIN = {"docker-compose-v2": "docker-compose-plugin", "docker-buildx": "docker-buildx-plugin"}


def docker_plan(release: Release, docker_source: str, docker_ce_repo_url: str,
                installed: dict | None = None) -> DockerPlan:
    """Docker, Compose and BuildKit's buildx per release and source. The deploy builds with
    `DOCKER_BUILDKIT=1`, which Docker's client from 23.0 on refuses without the buildx plugin, so
    every plan has it (Debian 12's 20.10 client has BuildKit built in)."""
    installed = installed or {}
    conflicting = DISTRO_DOCKER_PACKAGES if docker_source == "docker-ce" else DOCKER_CE_PACKAGES
    found = [name for name in conflicting if name in installed]
    if found:
        other = "distro" if docker_source == "docker-ce" else "docker-ce"
        raise UnsupportedHost(f"docker_source is {docker_source!r}, but this host has {', '.join(found)} from "
                              f"the other source: installing over it would remove it and stop every container. "
                              f"Set docker_source = {other!r} for this host, or remove that Docker first.")
    if docker_source == "docker-ce":
        return DockerPlan(
            packages=("docker-ce", "docker-ce-cli", "containerd.io",
                      "docker-buildx-plugin", "docker-compose-plugin"),
            compose_command="docker compose",
            apt_repo_url=f"{docker_ce_repo_url.rstrip('/')}/{release.distro}",
        )
    if release.distro == "ubuntu":
        # Ubuntu's docker.io only Suggests Compose v2 and buildx (universe, all three releases;
        # https://packages.ubuntu.com/noble/docker.io): both are named. Its Compose v1 breaks with
        # the Docker 24+ engines that Ubuntu's updates carry.
        packages = ("docker.io", "docker-compose-v2", "docker-buildx")
    elif release.version == "12":
        # Debian 12: Docker 20.10, whose client has BuildKit built in; Compose v1 only.
        return DockerPlan(packages=("docker.io", "docker-compose"), compose_command="docker-compose")
    else:
        # Debian 13 splits the client into docker-cli; its docker-compose is Compose v2, a CLI plugin.
        packages = ("docker.io", "docker-cli", "docker-buildx", "docker-compose")
    packages = tuple(name for name in packages if DOCKER_CE_PLUGIN.get(name) not in installed)
    return DockerPlan(packages=packages, compose_command="docker compose")


def keyring_path(name: str, key_url: str) -> str:
    """Where a repository's key is kept: named after the repository and its URL, so that a
    changed URL is fetched anew rather than the old key kept."""
    import hashlib

    return f"/etc/apt/keyrings/{name}-{hashlib.sha256(key_url.encode()).hexdigest()[:8]}.asc"


# --- the same decisions for the host being deployed (facts read through pyinfra) ---------------


def release_of(host) -> Release:
    from pyinfra.facts.server import LinuxDistribution

    return supported_release(host.name, host.get_fact(LinuxDistribution))


def docker_plan_of(host) -> DockerPlan:
    from pyinfra.facts.deb import DebPackages

    return docker_plan(release_of(host), host.data.docker_source, host.data.docker_ce_repo_url,
                       host.get_fact(DebPackages))
