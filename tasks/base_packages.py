"""The packages every later step relies on."""

from pyinfra import host

from jhgpu.operations.apt import apt_install

apt_install(name="Install base packages", packages=host.data.base_packages)
