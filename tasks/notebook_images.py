"""The notebook image chain: a pinned docker-stacks checkout with this project's patches,
built on the host in dependency order; each image rebuilt only when its inputs changed."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files

from jhgpu.images import (BUILD_LOGS_DIR, CA_ROOT_NAME, CHECKOUT_DIR, PATCHES_DIR, build_plan,
                          checkout_marker, patch_files)
from jhgpu.operations.docker import docker_image_present
from jhgpu.operations.images import docker_image, docker_stacks_checkout

REPO = Path(__file__).resolve().parent.parent
root = host.data.jupyterhub_root
user = host.data.jupyterhub_user
ref = host.data.docker_stacks_ref
patches = patch_files(host.data.docker_stacks_patches_dir)

files.sync(
    name="Upload the docker-stacks patches",
    src=host.data.docker_stacks_patches_dir, dest=f"{root}/{PATCHES_DIR}",
    user=user, group=user, delete=True,
)
docker_stacks_checkout(
    name=f"Check out docker-stacks at {ref[:12]} and apply {len(patches)} patch(es)",
    repo=host.data.docker_stacks_repo, ref=ref, dest=f"{root}/{CHECKOUT_DIR}",
    patches_dir=f"{root}/{PATCHES_DIR}", marker=checkout_marker(ref, patches),
    patch_names=[patch.name for patch in patches], owner=user,
)
docker_image_present(name=f"Pull {host.data.notebook_root_image}", ref=host.data.notebook_root_image)

builds = build_plan(host.data)
for build in builds:
    if build.name == CA_ROOT_NAME:
        files.directory(name="Create the CA certificates build context", path=build.context,
                        user=user, group=user)
        files.put(name="Upload build_ca_certificates", src=host.data.build_ca_certificates,
                  dest=f"{build.context}/extra-ca-certificates.crt", user=user, group=user)
        files.put(name="Upload the CA certificates Dockerfile", src=str(REPO / "files" / "ca-certificates.Dockerfile"),
                  dest=f"{build.context}/Dockerfile", user=user, group=user)
    if build.local_context:
        files.sync(name=f"Upload the build context of {build.name}", src=build.local_context,
                   dest=build.context, user=user, group=user, delete=True)
    docker_image(name=f"Build {build.ref}", build=build, log_dir=f"{root}/{BUILD_LOGS_DIR}",
                 contexts=[b.context for b in builds])
