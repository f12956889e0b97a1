"""Docker's images and daemon configuration.
"""

from __future__ import annotations

import io
import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import FileContents

from jhgpu.facts.docker import DanglingImages, DockerImages, image_of
from jhgpu.uploads import upload

q = shlex.quote


def local_image(ref: str) -> dict | None:
    """The local image `ref` names ({"id", "labels"}), or None."""
    return image_of(host.get_fact(DockerImages), ref)


@operation()
def superseded_images_removed(label: str):
    """Remove the untagged images a rebuild left behind (multi-GB each), those carrying `label`
    only; any that a container still uses (a user's server not yet restarted) stays, and is
    removed by a later deploy once unused."""
    dangling = host.get_fact(DanglingImages, label=label)
    if not dangling:
        host.noop("no superseded image is left")
        return
    yield f"docker image prune -f --filter label={q(label)}"


@operation()
def docker_image_present(ref: str):
    """Pull an image the host lacks. Checked when it runs, so an image loaded by an earlier
    step of the same deploy (preload_images) is not pulled."""
    if local_image(ref):
        host.noop(f"image {ref} is present")
        return
    yield f"docker pull {q(ref)}"


@operation()
def docker_daemon_json(merge, done: str, daemon_json: str = "/etc/docker/daemon.json"):
    """Docker's daemon.json as `merge` has it (a function: the current text, or None, to the new
    text, or None when nothing needs to change); Docker restarts only when the file changed.
    `done` says what a converged file has."""
    lines = host.get_fact(FileContents, path=daemon_json)
    merged = merge("\n".join(lines) if lines else None)
    if merged is None:
        host.noop(f"{daemon_json} {done}")
        return
    yield upload(io.StringIO(merged), daemon_json)
    yield "systemctl restart docker"
