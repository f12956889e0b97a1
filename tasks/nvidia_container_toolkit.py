"""The NVIDIA Container Toolkit (what replaced nvidia-docker2) from NVIDIA's signed apt
repository, at nvidia_container_toolkit_version, and the nvidia runtime in Docker's daemon.json."""

from pyinfra import host

from jhgpu.nvidia import daemon_json_with_nvidia_runtime, toolkit_packages
from jhgpu.operations.apt import apt_install, signed_apt_source
from jhgpu.operations.docker import docker_daemon_json
from jhgpu.platform import keyring_path

if host.data.gpu_enabled:
    key_url = host.data.nvidia_container_toolkit_key_url
    keyring = keyring_path("nvidia-container-toolkit", key_url)
    version = host.data.nvidia_container_toolkit_version
    signed_apt_source(
        name="Add the NVIDIA Container Toolkit's apt repository and key", source="nvidia-container-toolkit",
        key_url=key_url, keyring=keyring,
        lines=[f"deb [signed-by={keyring}] {host.data.nvidia_container_toolkit_repo_url.rstrip('/')}/$(ARCH) /"],
    )
    apt_install(name=f"Install the NVIDIA Container Toolkit {version}", packages=toolkit_packages(version))
    docker_daemon_json(name="Add the nvidia runtime to Docker (restarts Docker if it changed)",
                       merge=daemon_json_with_nvidia_runtime, done="has the nvidia runtime")
