"""Custom operations shared by tasks."""

from __future__ import annotations

import atexit
import functools
import io
import os
import shlex
import subprocess
import tempfile

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import FileContents
from pyinfra.operations import apt, files

from jhgpu.facts import (DanglingImages, DockerImages, DpkgInterrupted, EgressRules, GpuContainerView, TreeDigest,
                         TreeDigests, image_of)
from jhgpu.hub import HubNames
from jhgpu.images import DIGEST_LABEL, ImageBuild, build_command, input_digest, is_local_repo

q = shlex.quote


class ShownCommand(StringCommand):
    """A command whose output pyinfra shows as it comes, without -v: for long steps that report
    their progress (an image build), which would otherwise be silent for tens of minutes."""

    def execute(self, state, host, connector_arguments):
        connector_arguments.update(self.connector_arguments)
        return host.run_shell_command(self, print_output=True, print_input=state.print_input, **connector_arguments)


def local_image(ref: str) -> dict | None:
    """The local image `ref` names ({"id", "labels"}), or None."""
    return image_of(host.get_fact(DockerImages), ref)


@functools.lru_cache(maxsize=None)
def git_archive(repo: str, ref: str) -> str:
    """A tar of `ref` from a local repository, written to a temporary file."""
    archive = tempfile.NamedTemporaryFile(prefix="docker-stacks-", suffix=".tar", delete=False)
    subprocess.run(["git", "-C", repo, "archive", "--format=tar", ref], stdout=archive, check=True)
    archive.close()
    atexit.register(os.unlink, archive.name)
    return archive.name


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
def apt_install(packages: list[str] | tuple[str, ...]):
    """Install packages ("name", or "name=version" for an exact version, up or down), refreshing
    the apt lists only when something is missing.

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
    if wanted:
        yield from apt.update._inner()
        yield from apt.packages._inner(packages=wanted, allow_downgrades=any("=" in p for p in wanted))


@operation()
def docker_stacks_checkout(repo: str, ref: str, dest: str, patches_dir: str, marker: str,
                           patch_names: list[str], owner: str):
    """A clean tree of `repo` at `ref` in `dest`, with the patches in `patches_dir` applied.

    The tree records what it was made from (`marker`: the ref and each patch's digest) and a
    digest of its files; a tree that matches both is left alone, so a damaged checkout (a file
    edited or deleted by hand) is made anew. Anything else is rebuilt from scratch beside it and
    swapped in only once every patch applied, so a broken patch leaves the old tree and images
    untouched.
    """
    marker_name = ".jhgpu-checkout"
    recorded = host.get_fact(FileContents, path=f"{dest}/{marker_name}") or []
    if (recorded[:-1] == marker.splitlines()
            and recorded[-1:] == [f"tree {host.get_fact(TreeDigest, path=dest, exclude=marker_name)}"]):
        host.noop(f"docker-stacks at {ref[:12]} with {len(patch_names)} patch(es) is in place")
        return
    new = f"{dest}.new"
    yield f"rm -rf {q(new)} && mkdir -p {q(new)}"
    if is_local_repo(repo):
        archive = f"{dest}.tar"
        yield FileUploadCommand(git_archive(repo, ref), archive)
        yield f"tar -x -C {q(new)} -f {q(archive)} && rm -f {q(archive)}"
    else:
        yield (f"git_dir=$(mktemp -d) && git -C \"$git_dir\" init -q"
               f" && git -C \"$git_dir\" fetch -q --depth 1 {q(repo)} {q(ref)}"
               f" && git -C \"$git_dir\" archive FETCH_HEAD | tar -x -C {q(new)}; status=$?;"
               f" rm -rf \"$git_dir\"; exit $status")
    for name in patch_names:
        patch = q(f"{patches_dir}/{name}")
        yield (f"cd {q(new)} && if ! git apply --check {patch}; then"
               f" echo 'patch {name} does not apply to docker-stacks at {ref}' >&2; exit 1; fi"
               f" && git apply {patch}")
    tree = TreeDigest().command(new, exclude=marker_name)
    yield f"printf %s {q(marker)} > {q(f'{new}/{marker_name}')} && echo \"tree $({tree})\" >> {q(f'{new}/{marker_name}')}"
    yield f"chown -R {q(owner)}: {q(new)} && rm -rf {q(dest)} && mv {q(new)} {q(dest)}"


@operation()
def docker_image(build: ImageBuild, log_dir: str, contexts: list[str] | None = None):
    """Build one image with BuildKit unless its input-digest label already matches.

    Facts are read when the operation runs, so a parent rebuilt earlier in the same deploy
    (a new image id) makes its children rebuild too. `contexts`: every build context of the
    chain, whose digests are read in one pass (the default: this image's alone).
    """
    context_digest = host.get_fact(TreeDigests, paths=list(contexts or [build.context])).get(build.context)
    parent = local_image(build.parent_ref)
    digest = input_digest(context_digest or "", build.build_args, parent["id"] if parent else "")
    current = local_image(build.ref)
    if current and current["labels"].get(DIGEST_LABEL) == digest:
        host.noop(f"image {build.ref} is up to date")
        return
    yield ShownCommand(build_command(build, digest, f"{log_dir}/{build.name}.log", host.data.build_progress_seconds))


@operation()
def user_egress_blocked(data, unit: str):
    """The rules for user_blocked_addresses in force: (re)applied by their systemd unit when the
    live rules differ (new settings, a Hub network made anew)."""
    from jhgpu.egress import CHAIN, rules_in_force

    if rules_in_force(data, host.get_fact(EgressRules, network=HubNames.of(data).network, chain=CHAIN)):
        host.noop("users' containers are kept from the blocked addresses")
        return
    yield f"systemctl restart {q(unit)}"


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
def stop_for_reboot(reason: str):
    """Stop the deploy, telling the admin why the host must reboot before it can go on."""
    message = (f"this host must reboot before the deploy can go on: {reason}. Reboot it and rerun the "
               "deploy, or set nvidia_allow_reboot = True to let the deploy reboot it.")
    yield f"echo {q(message)} >&2; exit 1"


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
    yield FileUploadCommand(io.StringIO(merged), daemon_json)
    yield "systemctl restart docker"


@operation()
def gpu_check(image: str):
    """Show what a container with GPUs requested sees; fail when it sees none. Reads only."""
    view = host.get_fact(GpuContainerView, image=image) or {"gpus": [], "error": "Docker is not installed"}
    if not view["gpus"]:
        message = (f"no GPU is visible to containers on this host: `docker run --gpus all {image}` saw none"
                   f" ({view['error'] or 'nvidia-smi listed no GPU'}). Check `nvidia-smi` on the host and"
                   " the NVIDIA Container Toolkit.")
        yield f"echo {q(message)} >&2; exit 1"
        return
    tensorflow = view["tensorflow"]
    found = "TensorFlow is not in this image" if tensorflow is None else f"TensorFlow finds {tensorflow} GPU(s)"
    host.noop(f"a container sees {len(view['gpus'])} GPU(s): {', '.join(view['gpus'])}; {found}")
    yield from ()  # a check: it never changes the host
