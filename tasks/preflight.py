"""Refuse bad settings, unsupported hosts and impossible GPU setups before anything changes."""

from pyinfra import host

from jhgpu.facts import NvidiaDriverPackage
from jhgpu.nvidia import GpuStackError, host_problems
from jhgpu.platform import release_of
from jhgpu.settings import validate

validate(host.name, host.data.dict())
release = release_of(host)  # raises UnsupportedHost for anything but the supported releases

installed = host.get_fact(NvidiaDriverPackage) if host.data.gpu_enabled else None
problems = host_problems(release, host.data, installed and installed["version"])
if problems:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    raise GpuStackError(f"impossible GPU setup for host '{host.name}':\n{lines}")
