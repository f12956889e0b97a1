"""Facts about a host's Docker engine: its images, version, networks and Swarm state.
Query one by hand: pyinfra inventory.py fact jhgpu.facts.docker.DockerImages
"""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase


class DockerImages(FactBase):
    """Every tagged local image, by reference: {"repo:tag": {"id": ..., "labels": {...}, "digests":
    ["registry/repo@sha256:..."]}} ({} without Docker; digests: where it was pushed or pulled). One command for all of them: the deploy asks about a dozen images (see
    `image_of`)."""

    requires_command = "docker"

    def command(self) -> str:
        return ("docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort -u"
                " | xargs -r docker image inspect --format"
                " '{{json .RepoTags}} {{json .Id}} {{json .RepoDigests}} {{json .Config.Labels}}'"
                " 2>/dev/null || true")

    def process(self, output):
        images = {}
        for line in (line.strip() for line in output):
            if line:
                tags, image_id, digests, labels = line.split(" ", 3)
                for tag in json.loads(tags) or []:
                    images[tag] = {"id": json.loads(image_id), "labels": json.loads(labels) or {},
                                   "digests": json.loads(digests) or []}
        return images


def image_of(images: dict, ref: str) -> dict | None:
    """One image of the DockerImages fact, found as Docker names it ("debian:13" for
    "docker.io/library/debian:13", ":latest" when no tag is given); None when it is missing."""
    name = ref.split("@", 1)[0]
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return (images or {}).get(name)


class DanglingImages(FactBase):
    """Ids of untagged images carrying `label` that no container uses: what this deploy's
    rebuilds superseded and `docker image prune` would remove. (One a user's server still runs
    is left out, or every rerun would try, and fail, to remove it.)"""

    requires_command = "docker"

    def command(self, label: str) -> str:
        return (f"docker images -q --no-trunc --filter dangling=true --filter label={shlex.quote(label)}"
                " | sed 's/^/dangling /'; docker ps -aq | xargs -r docker container inspect --format 'used {{.Image}}'")

    def process(self, output):
        found = {"dangling": set(), "used": set()}
        for line in output:
            kind, _, image = line.strip().partition(" ")
            if kind in found and image:
                found[kind].add(image)
        return sorted(found["dangling"] - found["used"])


class DockerServerVersion(FactBase):
    """The running Docker engine's version ("26.1.5+dfsg1"), or None."""

    requires_command = "docker"

    def command(self) -> str:
        return "docker version --format '{{.Server.Version}}' 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() or None


class NetworkDriver(FactBase):
    """The driver of Docker network `network` ("overlay", "bridge"), or None when there is none."""

    requires_command = "docker"

    def command(self, network: str) -> str:
        return f"docker network inspect --format '{{{{.Driver}}}}' {shlex.quote(network)} 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() or None


class NetworkOptions(FactBase):
    """The driver options of Docker network `network` ({"encrypted": ""}), or None without it."""

    requires_command = "docker"

    def command(self, network: str) -> str:
        return f"docker network inspect --format '{{{{json .Options}}}}' {shlex.quote(network)} 2>/dev/null || true"

    def process(self, output):
        text = "".join(output).strip()
        return (json.loads(text) or {}) if text else None


class SwarmInfo(FactBase):
    """The engine's Swarm section of `docker info` ({"LocalNodeState": ..., "ControlAvailable":
    ..., "RemoteManagers": [...]}); None without Docker."""

    requires_command = "docker"

    def command(self) -> str:
        return "docker info --format '{{json .Swarm}}'"

    def process(self, output):
        return json.loads("".join(output))
