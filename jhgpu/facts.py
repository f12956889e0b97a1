"""Custom pyinfra facts. Query one by hand with e.g.
    pyinfra inventory.py fact jhgpu.facts.DockerImageId ref=jupyter/base-notebook:latest
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class DockerImageId(FactBase):
    """The id of a local image, or None when the image (or Docker itself) is missing."""

    requires_command = "docker"

    def command(self, ref: str) -> str:
        return f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(ref)} 2>/dev/null || true"

    def process(self, output):
        image_id = "".join(output).strip()
        return image_id or None

