"""The notebook image chain: the docker-stacks checkout and each image's build.
"""

from __future__ import annotations

import atexit
import functools
import os
import shlex
import subprocess
import tempfile

from pyinfra import host
from pyinfra.api import operation
from pyinfra.api.command import StringCommand
from pyinfra.facts.files import FileContents

from jhgpu.facts.files import TreeDigest, TreeDigests
from jhgpu.images import DIGEST_LABEL, ImageBuild, build_command, input_digest, is_local_repo
from jhgpu.operations.docker import local_image
from jhgpu.uploads import upload

q = shlex.quote


class ShownCommand(StringCommand):
    """A command whose output pyinfra shows as it comes, without -v: for long steps that report
    their progress (an image build), which would otherwise be silent for tens of minutes."""

    def execute(self, state, host, connector_arguments):
        connector_arguments.update(self.connector_arguments)
        return host.run_shell_command(self, print_output=True, print_input=state.print_input, **connector_arguments)


@functools.lru_cache(maxsize=None)
def git_archive(repo: str, ref: str) -> str:
    """A tar of `ref` from a local repository, written to a temporary file."""
    archive = tempfile.NamedTemporaryFile(prefix="docker-stacks-", suffix=".tar", delete=False)
    subprocess.run(["git", "-C", repo, "archive", "--format=tar", ref], stdout=archive, check=True)
    archive.close()
    atexit.register(os.unlink, archive.name)
    return archive.name


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
        yield upload(git_archive(repo, ref), archive)
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
