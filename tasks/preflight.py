"""Refuse bad settings and unsupported hosts before any operation is planned."""

from pyinfra import host

from jhgpu.platform import release_of
from jhgpu.settings import validate

validate(host.name, host.data.dict())
release_of(host)  # raises UnsupportedHost for anything but the supported releases
