"""Docker engine and Compose, from the OS archive or Docker's own repository."""

from pyinfra import host
from pyinfra.operations import apt, files, systemd

from jhgpu.operations import apt_install
from jhgpu.platform import docker_plan_of, release_of

plan = docker_plan_of(host)

if plan.apt_repo_url:
    keyring = "/etc/apt/keyrings/docker.asc"
    files.directory(name="Create the apt keyrings folder", path="/etc/apt/keyrings", mode="755")
    files.download(name="Download Docker's apt key", src=f"{plan.apt_repo_url}/gpg", dest=keyring, mode="644")
    apt.repo(
        name="Add Docker's apt repository",
        src=f"deb [signed-by={keyring}] {plan.apt_repo_url} {release_of(host).codename} stable",
        filename="docker",
    )

apt_install(name="Install Docker and Compose", packages=plan.packages)

systemd.service(name="Start Docker now and at boot", service="docker", running=True, enabled=True)
