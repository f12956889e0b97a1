"""The NVIDIA Container Toolkit (what replaced nvidia-docker2) from NVIDIA's signed apt
repository, at nvidia_container_toolkit_version, and the nvidia runtime in Docker's daemon.json."""

from pyinfra import host
from pyinfra.operations import apt, files

from jhgpu.nvidia import toolkit_packages
from jhgpu.operations import apt_install, docker_nvidia_runtime

if host.data.gpu_enabled:
    keyring = "/etc/apt/keyrings/nvidia-container-toolkit.asc"
    version = host.data.nvidia_container_toolkit_version
    files.directory(name="Create the apt keyrings folder", path="/etc/apt/keyrings", mode="755")
    files.download(name="Download the NVIDIA Container Toolkit's apt key",
                   src=host.data.nvidia_container_toolkit_key_url, dest=keyring, mode="644")
    apt.repo(
        name="Add the NVIDIA Container Toolkit's apt repository",
        src=f"deb [signed-by={keyring}] {host.data.nvidia_container_toolkit_repo_url.rstrip('/')}/$(ARCH) /",
        filename="nvidia-container-toolkit",
    )
    apt_install(name=f"Install the NVIDIA Container Toolkit {version}", packages=toolkit_packages(version))
    docker_nvidia_runtime(name="Add the nvidia runtime to Docker (restarts Docker if it changed)")
