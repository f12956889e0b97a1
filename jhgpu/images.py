"""The notebook image chain: what to build, from what, in which order. Decisions only.

Each image is labelled with a digest of everything that determines it (its build context after
patching, its build arguments, its parent's image id); an image whose label matches is not
rebuilt, so changing one image's input rebuilds that image and its descendants only.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

DIGEST_LABEL = "org.jupytergpu.input-digest"
# The folders under jupyterhub_root that the chain uses on the host.
CHECKOUT_DIR = "docker-stacks"
PATCHES_DIR = "docker-stacks-patches"
LOCAL_CONTEXTS_DIR = "image-contexts"
BUILD_LOGS_DIR = "build-logs"
CA_ROOT_NAME = "root-with-ca-certificates"  # the root image plus build_ca_certificates


@dataclass(frozen=True)
class ImageBuild:
    name: str
    ref: str  # <image_owner>/<name>:latest
    context: str  # on the host
    parent_ref: str  # what FROM resolves to: the root image or the parent's ref
    build_args: dict[str, str] = field(default_factory=dict)
    display_name: str | None = None
    local_context: str | None = None  # a folder on the machine running pyinfra, uploaded first


def is_local_repo(repo: str) -> bool:
    """A docker_stacks_repo on the machine running pyinfra, rather than a URL."""
    return "://" not in repo and not repo.startswith("git@")


def image_ref(owner: str, name: str) -> str:
    return f"{owner}/{name}:latest"


def checkout_marker(ref: str, patches: list[Path]) -> str:
    """What the host's checkout records: the ref and each patch's name and content digest."""
    lines = [f"ref {ref}"]
    lines += [f"patch {p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in patches]
    return "\n".join(lines) + "\n"


def patch_files(patches_dir: str) -> list[Path]:
    """This project's patches, in the order they are applied (by name)."""
    return sorted(Path(patches_dir).glob("*.patch"))


def build_plan(data) -> list[ImageBuild]:
    """The builds for one host, in dependency order, from its settings (host.data)."""
    root = data.jupyterhub_root
    owner = data.image_owner
    root_image = data.notebook_root_image
    builds = []
    if data.build_ca_certificates:
        ca_ref = image_ref(owner, CA_ROOT_NAME)
        builds.append(ImageBuild(
            name=CA_ROOT_NAME, ref=ca_ref, context=f"{root}/{LOCAL_CONTEXTS_DIR}/{CA_ROOT_NAME}",
            parent_ref=root_image, build_args={"ROOT_IMAGE": root_image},
        ))
        root_image = ca_ref
    for image in data.notebook_images:
        name = image["name"]
        parent = image.get("parent")
        parent_ref = image_ref(owner, parent) if parent else root_image
        from_arg = {"BASE_IMAGE": parent_ref} if parent else {"ROOT_IMAGE": root_image}
        if image.get("local_context"):
            context = f"{root}/{LOCAL_CONTEXTS_DIR}/{name}"
        else:
            context = f"{root}/{CHECKOUT_DIR}/{image['context']}"
        builds.append(ImageBuild(
            name=name, ref=image_ref(owner, name), context=context, parent_ref=parent_ref,
            build_args={"OWNER": owner, "JUPYTERHUB_VERSION": data.jupyterhub_version, **from_arg,
                        **image.get("build_args", {})},
            display_name=image.get("display_name"), local_context=image.get("local_context"),
        ))
    return builds


def input_digest(context_digest: str, build_args: dict[str, str], parent_id: str) -> str:
    payload = json.dumps([context_digest, sorted(build_args.items()), parent_id])
    return hashlib.sha256(payload.encode()).hexdigest()


def offered_images(data) -> dict[str, str]:
    """The images users may pick in the Hub: display name -> image reference."""
    return {b.display_name: b.ref for b in build_plan(data) if b.display_name}


def build_command(build: ImageBuild, digest: str, log: str, progress_seconds: int) -> str:
    """The shell command that builds `build` with BuildKit, its whole output kept in `log` on the
    host, and prints a line naming the image and the step it is on when a step starts and at
    least every `progress_seconds` (a build can spend tens of minutes in one step). A failure
    prints the log's last lines and where the whole log is."""
    q = shlex.quote
    args = " ".join(f"--build-arg {q(f'{key}={value}')}" for key, value in sorted(build.build_args.items()))
    # BuildKit's plain progress starts each step with a line like "#7 [3/12] RUN pip install ...".
    step = f"$(grep -E '^#[0-9]+ \\[' {q(log)} | tail -n 1 | cut -c1-160)"
    return (
        f"mkdir -p {q(str(Path(log).parent))} && : > {q(log)} && started=$(date +%s) && "
        f"{{ DOCKER_BUILDKIT=1 docker build --progress=plain --label {DIGEST_LABEL}={digest} -t {q(build.ref)}"
        f" {args} {q(build.context)} > {q(log)} 2>&1 & }} && build=$! && said='' && told=$started && "
        f"while kill -0 $build 2>/dev/null; do sleep 1; now=$(date +%s); step=\"{step}\"; "
        f"if [ -n \"$step\" ] && {{ [ \"$step\" != \"$said\" ] || [ $((now - told)) -ge {progress_seconds} ]; }}; then "
        f"printf 'building %s [%d:%02d]: %s\\n' {q(build.ref)} $(((now - started) / 60)) $(((now - started) % 60)) \"$step\"; "
        f"said=$step; told=$now; fi; done; "
        f"if ! wait $build; then tail -n 40 {q(log)} >&2;"
        f" if grep -qi 'no space left on device' {q(log)}; then echo 'building {build.ref} failed: the host is out of"
        " disk space where Docker keeps images and build cache (docker info: Docker Root Dir). Free some, e.g."
        " docker builder prune, and rerun.' >&2; fi;"
        f" echo 'building {build.ref} failed; full log on the host: {log}' >&2; exit 1; fi"
    )
