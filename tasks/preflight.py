"""Refuse bad settings, unsupported hosts and impossible GPU setups before anything changes;
say which driver branch the host will run, and which images run with reduced compatibility."""

from pyinfra import host, logger

from jhgpu.facts import HubContainers
from jhgpu.hub import CONFIG_DIGEST_LABEL, hub_move_problems
from jhgpu.nvidia import GpuStackError, gpu_plan_of
from jhgpu.platform import docker_plan_of, release_of
from jhgpu.settings import SettingsError, validate

validate(host.name, host.data.dict())
release = release_of(host)  # raises UnsupportedHost for anything but the supported releases
docker_plan_of(host)  # raises where Docker from the other source is installed

moves = hub_move_problems(host.data, host.get_fact(HubContainers, label=CONFIG_DIGEST_LABEL) or [])
if moves:
    lines = "\n".join(f"  - {problem}" for problem in moves)
    raise SettingsError(f"settings for host '{host.name}' would orphan data or start a second Hub:\n{lines}")

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
