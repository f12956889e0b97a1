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


def docker_plan(release: Release, docker_source: str, docker_ce_repo_url: str) -> DockerPlan:
    if docker_source == "docker-ce":
        return DockerPlan(
            packages=("docker-ce", "docker-ce-cli", "containerd.io",
                      "docker-buildx-plugin", "docker-compose-plugin"),
            compose_command="docker compose",
            apt_repo_url=f"{docker_ce_repo_url.rstrip('/')}/{release.distro}",
        )
    if release.distro == "ubuntu":
        # Ubuntu ships Compose v2 as docker-compose-v2 from 20.04 on; its Compose v1 breaks with
        # the Docker 24+ engines that Ubuntu's updates now carry.
        return DockerPlan(packages=("docker.io", "docker-compose-v2"), compose_command="docker compose")
    # Debian 12 packages only Compose v1.
    return DockerPlan(packages=("docker.io", "docker-compose"), compose_command="docker-compose")


# --- the same decisions for the host being deployed (facts read through pyinfra) ---------------


def release_of(host) -> Release:
    from pyinfra.facts.server import LinuxDistribution

    return supported_release(host.name, host.get_fact(LinuxDistribution))


def docker_plan_of(host) -> DockerPlan:
    return docker_plan(release_of(host), host.data.docker_source, host.data.docker_ce_repo_url)
