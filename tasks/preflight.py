"""Refuse bad settings, unsupported hosts and impossible GPU setups before anything changes;
say which driver branch the host will run, and which images run with reduced compatibility."""

from pyinfra import host, logger
from pyinfra.facts.hardware import Cpus

from jhgpu.facts.apt import AptCandidates

from jhgpu.auth import identity_check, identity_problems
from jhgpu.facts.hub import HubContainers
from jhgpu.facts.identity import identity_answer
from jhgpu.fleet import advertise_address, hub_host, is_worker, role
from jhgpu.facts.docker import DockerServerVersion, SwarmInfo
from jhgpu.facts.server import FilesystemOf, KernelHasEsp
from jhgpu.hub import CONFIG_DIGEST_LABEL, hub_move_problems
from jhgpu.nvidia import gpu_plan_of
from jhgpu.nvidia_branches import GpuStackError
from jhgpu.platform import docker_plan_of, release_of
from jhgpu.quotas import quota_problems
from jhgpu.settings import SettingsError, validate
from jhgpu.swarm import SINGLE, WORKER, SwarmError, membership, version_problems

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
        host.log(f"NVIDIA driver: the {plan.branch.runs} branch ({plan.branch.version}) from {release}'s archive, "
                 f"{plan.modules} kernel modules")
    for note in plan.notes:
        host.log(f"Note: {note}")
    for warning in plan.warnings:
        host.log(f"Warning: {warning}", logger.warning)

# Several servers: a Swarm each node can join, with engines and toolkits that honour its GPUs.
try:
    node_role = role(host)
except SwarmError as error:
    raise SettingsError(f"invalid inventory groups for host '{host.name}': {error}") from None
if node_role != SINGLE:
    swarm_problems = []
    if host.data.gpu_allocation != "exclusive":
        swarm_problems.append("setting 'gpu_allocation' must be 'exclusive' with gpu_workers: Swarm gives each "
                              "server GPUs of its own")
    engine = host.get_fact(DockerServerVersion)
    if engine is None:  # not installed yet: what apt would install
        package = docker_plan_of(host).packages[0]
        engine = (host.get_fact(AptCandidates, pattern=f"^{package}$").get(package) or {}).get("version")
    swarm_problems += version_problems(engine, host.data.nvidia_container_toolkit_version, host.data.gpu_enabled)
    try:
        membership(host.name, node_role, host.get_fact(SwarmInfo), advertise_address(hub_host(host)))
    except SwarmError as error:
        swarm_problems.append(str(error))
    cpus = host.get_fact(Cpus)
    if host.data.user_cpu_limit and cpus and host.data.user_cpu_limit > cpus:  # Swarm refuses such a task
        swarm_problems.append(f"setting 'user_cpu_limit' {host.data.user_cpu_limit} is more than this host's {cpus} "
                              "CPUs: Swarm would refuse every server placed here")
    if hub_host(host).data.swarm_encrypted_network and not host.get_fact(KernelHasEsp):
        swarm_problems.append("setting 'swarm_encrypted_network' (of the Hub's server) needs IPsec ESP, which this "
                              "host's kernel lacks (no esp4 module): boot a kernel with it, or set it to False")
    if not advertise_address(host):
        swarm_problems.append("cannot tell this host's address in the Swarm: set swarm_advertise_address")
    if swarm_problems:
        lines = "\n".join(f"  - {problem}" for problem in swarm_problems)
        raise SettingsError(f"host '{host.name}' cannot be a {node_role} of the Hub's Swarm:\n{lines}")

# Storage limits need project quotas where the users' folders are (the Hub's server keeps them).
if not is_worker(host):
    quota = quota_problems(host.name, host.data.user_storage_quota,
                           host.get_fact(FilesystemOf, path=host.data.users_home_root) if host.data.user_storage_quota
                           else None, host.data.users_home_root)
    if quota:
        raise SettingsError("\n".join(quota))

# The lab's directory or sign-on provider, reached and trusted from the Hub's server as the Hub
# will reach it (the server's network, DNS and the site's CA).
if role(host) != WORKER:
    identity = identity_problems(host.data, identity_answer(host, identity_check(host.data)))
    if identity:
        lines = "\n".join(f"  - {problem}" for problem in identity)
        raise SettingsError(f"logins for host '{host.name}' cannot work:\n{lines}")
