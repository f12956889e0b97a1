"""Custom pyinfra facts. Query one by hand, e.g.
    pyinfra inventory.py fact jhgpu.facts.DockerImage ref=jupytergpu/base-notebook
"""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase


class DockerImage(FactBase):
    """A local image's id and labels ({"id": ..., "labels": {...}}), or None when it is missing
    (or Docker itself is)."""

    requires_command = "docker"

    def command(self, ref: str) -> str:
        return (f"docker image inspect --format '{{{{json .Id}}}} {{{{json .Config.Labels}}}}' "
                f"{shlex.quote(ref)} 2>/dev/null || true")

    def process(self, output):
        line = "".join(output).strip()
        if not line:
            return None
        image_id, labels = line.split(" ", 1)
        return {"id": json.loads(image_id), "labels": json.loads(labels) or {}}


class TreeDigest(FactBase):
    """A sha256 over the names and contents of every file in a folder, or None if it is missing.
    File times and owners are left out: only what a build would see counts."""

    def command(self, path: str) -> str:
        path = shlex.quote(path)
        return (f"if [ -d {path} ]; then cd {path} && find . \\( -type f -o -type l \\) -print0"
                " | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1; fi")

    def process(self, output):
        return "".join(output).strip() or None


class DockerContainer(FactBase):
    """A container's state, image id and labels ({"running": bool, "image": ..., "labels": {...}}),
    or None when there is no such container."""

    requires_command = "docker"

    def command(self, container: str) -> str:
        return (f"docker container inspect --format '{{{{json .State.Running}}}} {{{{json .Image}}}} "
                f"{{{{json .Config.Labels}}}}' {shlex.quote(container)} 2>/dev/null || true")

    def process(self, output):
        line = "".join(output).strip()
        if not line:
            return None
        running, image, labels = line.split(" ", 2)
        return {"running": json.loads(running), "image": json.loads(image), "labels": json.loads(labels) or {}}


class HubAccounts(FactBase):
    """The names of the Hub's accounts (NativeAuthenticator's), or None when the Hub container
    is not running. Waits for a Hub that is still starting."""

    requires_command = "docker"

    def command(self, container: str, db_url: str) -> str:
        container = shlex.quote(container)
        return (f"if [ \"$(docker container inspect --format '{{{{.State.Running}}}}' {container} 2>/dev/null)\""
                f" = true ]; then echo running; docker exec {container} jupytergpu-hub-accounts"
                f" {shlex.quote(db_url)} list; fi")

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        if not lines or lines[0] != "running":
            return None
        return lines[1:]
