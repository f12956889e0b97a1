"""Load image archives from the machine running pyinfra, for images the host lacks."""

import hashlib
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

from jhgpu.checks import image_archive_tags
from jhgpu.facts.docker import DockerImages, image_of

for archive in host.data.preload_images:
    missing = [tag for tag in image_archive_tags(archive) if not image_of(host.get_fact(DockerImages), tag)]
    if not missing:
        continue
    remote = f"/var/tmp/jhgpu-preload-{hashlib.sha256(archive.encode()).hexdigest()[:12]}.tar"
    files.put(name=f"Upload {Path(archive).name} ({', '.join(missing)})", src=archive, dest=remote, mode="600")
    server.shell(name=f"Load {', '.join(missing)}", commands=[f"docker load -i {remote}"])
    files.file(name=f"Remove the uploaded {Path(archive).name}", path=remote, present=False)
