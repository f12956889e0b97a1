"""Refuse bad settings, unsupported hosts and impossible GPU setups before anything changes;
say which driver branch the host will run, and which images run with reduced compatibility."""

from pyinfra import host, logger

from jhgpu.nvidia import GpuStackError, gpu_plan_of
from jhgpu.platform import docker_plan_of, release_of
from jhgpu.settings import validate

validate(host.name, host.data.dict())
release = release_of(host)  # raises UnsupportedHost for anything but the supported releases
docker_plan_of(host)  # raises where Docker from the other source is installed

if host.data.gpu_enabled:
    try:
        plan = gpu_plan_of(host, release)
    except GpuStackError as error:
        raise GpuStackError(f"impossible GPU setup for host '{host.name}':\n  - {error}") from None
    if plan.branch:
        host.log(f"NVIDIA driver: the {plan.branch.runs} branch ({plan.branch.version}) from {release}'s archive")
    for note in plan.notes:
        host.log(f"Note: {note}")
    for warning in plan.warnings:
        host.log(f"Warning: {warning}", logger.warning)
