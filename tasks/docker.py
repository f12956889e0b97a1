"""Docker engine and Compose, from the OS archive or Docker's own repository."""

from pyinfra import host
from pyinfra.operations import systemd

from jhgpu.operations.apt import apt_install, signed_apt_source
from jhgpu.platform import docker_plan_of, keyring_path, release_of

plan = docker_plan_of(host)

if plan.apt_repo_url:
    key_url = f"{plan.apt_repo_url}/gpg"
    keyring = keyring_path("docker", key_url)
    signed_apt_source(name="Add Docker's apt repository and key", source="docker", key_url=key_url, keyring=keyring,
                      lines=[f"deb [signed-by={keyring}] {plan.apt_repo_url} {release_of(host).codename} stable"])

apt_install(name="Install Docker and Compose", packages=plan.packages)

systemd.service(name="Start Docker now and at boot", service="docker", running=True, enabled=True)
