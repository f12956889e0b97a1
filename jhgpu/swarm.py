"""Several GPU servers as one Docker Swarm: who leads, who joins, what each node advertises.
Decisions only: inventory groups, settings and facts in, plans and messages out.

The inventory names the roles with two groups (docs/swarm-or-kubernetes.md says why Swarm):
- `hub_server`: the server that runs the Hub, the Swarm's manager (exactly one when there are
  workers);
- `gpu_workers`: the other GPU servers, the Swarm's workers (zero or more).
A host in neither group, or a `hub_server` without workers, is a single server: Compose and
DockerSpawner, as before any Swarm.

GPUs are Swarm generic resources: each node advertises its GPUs by UUID under the kind `gpu`
(`node-generic-resources` in daemon.json), a user's service reserves a count, and Swarm hands
the task the UUIDs it chose in DOCKER_RESOURCE_GPU, which the NVIDIA runtime reads in place of
NVIDIA_VISIBLE_DEVICES (`swarm-resource` in its config.toml).
"""

from __future__ import annotations

import json
import re

HUB_GROUP = "hub_server"
WORKERS_GROUP = "gpu_workers"
SINGLE, MANAGER, WORKER = "single", "manager", "worker"
GPU_RESOURCE = "gpu"
RESOURCE_ENV = "DOCKER_RESOURCE_GPU"  # what Docker sets in a task for the kind above
# Swarm refused tasks with generic resources on an overlay network (moby/moby#44378) until
# moby/swarmkit#3082 (Docker 23.0.2), which in turn broke discrete resources such as gpu=N until
# moby/swarmkit#3162 reached Docker Engine 25.0.3 (moby/moby#47225) and 26.0.0 (moby/moby#47224).
MIN_ENGINE = (25, 0, 3)
# The NVIDIA runtime ignored Swarm's assignment before Container Toolkit 1.19.0
# (NVIDIA/nvidia-container-toolkit#1599).
MIN_TOOLKIT = (1, 19, 0)
SWARM_PORT = 2377


class SwarmError(Exception):
    """The inventory or a host's Swarm membership makes the Swarm impossible."""


def role_of(host_name: str, groups: dict[str, list[str]]) -> str:
    """This host's role from the inventory's groups ({group: [host names]})."""
    hubs, workers = groups.get(HUB_GROUP, []), groups.get(WORKERS_GROUP, [])
    if host_name in hubs and host_name in workers:
        raise SwarmError(f"host '{host_name}' is in both {HUB_GROUP} and {WORKERS_GROUP}: put it in one")
    if workers and len(hubs) != 1:
        found = ", ".join(hubs) if hubs else "none"
        raise SwarmError(f"with {WORKERS_GROUP} ({', '.join(workers)}), the inventory needs exactly one host in "
                         f"{HUB_GROUP}, the server that runs the Hub; found {found}")
    if host_name in workers:
        return WORKER
    if host_name in hubs and workers:
        return MANAGER
    return SINGLE


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """(25, 0, 3) from "25.0.3", "25.0.3+dfsg1-1", "5:25.0.3-1~ubuntu.24.04~noble" (an epoch) or
    "1.19.0-1"; None when it has no version number."""
    found = re.match(r"\s*(?:\d+:)?(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    return tuple(int(part or 0) for part in found.groups()) if found else None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def version_problems(engine: str | None, toolkit: str | None, gpu_enabled: bool) -> list[str]:
    """What makes a node unfit for a GPU Swarm: the Docker engine it runs or will install
    (`engine`), and the NVIDIA Container Toolkit it will run (`toolkit`)."""
    problems = []
    found = version_tuple(engine)
    if found is None:
        problems.append("cannot tell which Docker engine this host will run (no docker package or apt candidate)")
    elif found < MIN_ENGINE:
        problems.append(f"Docker engine {engine} is too old for GPUs in a Swarm: Swarm places GPU services on "
                        f"an overlay network from {_dotted(MIN_ENGINE)} on (moby/moby#44378); use "
                        "docker_source = 'docker-ce' or a newer release")
    toolkit_found = version_tuple(toolkit)
    if gpu_enabled and toolkit_found is not None and toolkit_found < MIN_TOOLKIT:
        problems.append(f"NVIDIA Container Toolkit {toolkit} ignores Swarm's GPU assignment; "
                        f"nvidia_container_toolkit_version must be {_dotted(MIN_TOOLKIT)} or newer")
    return problems


def membership(host_name: str, role: str, swarm: dict | None, manager_address: str) -> str | None:
    """What the host must do to be in this Swarm: "init" (the manager), "join" (a worker), or
    None when it already is. `swarm` is the host's `docker info` Swarm section (the SwarmInfo
    fact); `manager_address` is the manager's advertise address. A host in another Swarm is
    refused, never moved: leaving would stop what runs there."""
    state = (swarm or {}).get("LocalNodeState", "inactive")
    if role == SINGLE:
        return None
    if state == "inactive":
        return "init" if role == MANAGER else "join"
    if state != "active":
        raise SwarmError(f"host '{host_name}' is in Swarm state {state!r}; fix it by hand (docker info)")
    is_manager = bool(swarm.get("ControlAvailable"))
    managers = {entry.get("Addr", "").rsplit(":", 1)[0] for entry in swarm.get("RemoteManagers") or []}
    if role == MANAGER and is_manager and manager_address in managers:
        return None
    if role == WORKER and not is_manager and manager_address in managers:
        return None
    where = ", ".join(sorted(managers)) or "unknown managers"
    raise SwarmError(f"host '{host_name}' already belongs to another Swarm (managed at {where}); this deploy "
                     f"will not take it over. Leave it there (docker swarm leave) or remove the host from "
                     f"{HUB_GROUP}/{WORKERS_GROUP}")


def generic_resources(units: list[dict]) -> list[str]:
    """daemon.json's node-generic-resources for the GPUs the node hands out (allocatable_gpus:
    whole GPUs, or MIG instances), by UUID."""
    return [f"{GPU_RESOURCE}={unit['uuid']}" for unit in units]


def toolkit_config_with_swarm_resource(current: str | None) -> str | None:
    """The NVIDIA runtime's config.toml with `swarm-resource = "DOCKER_RESOURCE_GPU"` set at the
    top level (its packaged file has it commented out), or None when it already is."""
    wanted = f'swarm-resource = "{RESOURCE_ENV}"'
    lines = (current or "").splitlines()
    if wanted in (line.strip() for line in lines):
        return None
    setting = re.compile(r"^\s*#?\s*swarm-resource\s*=")
    kept = [line for line in lines if not setting.match(line)]
    first_table = next((index for index, line in enumerate(kept) if line.lstrip().startswith("[")), len(kept))
    return "\n".join([*kept[:first_table], wanted, *kept[first_table:]]) + "\n"


# --- the Swarm's engines, images and Hub ------------------------------------------------------

def daemon_json_for_swarm(current: str | None, resources: list[str], registry: str) -> str | None:
    """Docker's daemon.json for a Swarm node (every other key kept), or None when it already is:
    - node-generic-resources: the node's GPUs (`generic_resources`);
    - default-runtime nvidia on a node with GPUs: a service cannot ask for a runtime, and the NVIDIA
      runtime is what reads DOCKER_RESOURCE_GPU;
    - the Swarm's registry among insecure-registries: it speaks plain HTTP on the Swarm's network,
      and every image is pulled by digest, which Docker verifies."""
    config = json.loads(current) if current and current.strip() else {}
    if "node-generic-resources" in config:
        config["node-generic-resources"] = sorted(config["node-generic-resources"])
    wanted = {key: value for key, value in config.items() if key != "node-generic-resources"}
    if resources:
        wanted.update({"node-generic-resources": sorted(resources), "default-runtime": "nvidia"})
    registries = list(config.get("insecure-registries") or [])
    wanted["insecure-registries"] = registries if registry in registries else [*registries, registry]
    return None if wanted == config else json.dumps(wanted, indent=2, sort_keys=True) + "\n"


def registry_address(manager_address: str, port: int) -> str:
    """Where every node reaches the Swarm's registry (on the Hub's server)."""
    return f"{manager_address}:{port}"


def pushed_ref(registry: str, ref: str) -> str:
    """The name of a local image (`jupytergpu/base-notebook:latest`) in the Swarm's registry."""
    return f"{registry}/{ref}"


def in_registry(image: dict | None, registry: str, ref: str) -> bool:
    """Whether this local image (the DockerImages fact's entry) is the one the registry has under
    its name: Docker records a digest for it once pushed, and a rebuilt image has none yet."""
    repository = pushed_ref(registry, ref).rsplit(":", 1)[0]
    return bool(image) and any(digest.startswith(f"{repository}@") for digest in image.get("digests", []))


def node_units(node: str, units: list[dict]) -> list[dict]:
    """One node's allocatable GPUs (gpu_allocation.allocatable_gpus) as the Hub names them in a
    Swarm: by node, since users' servers may land on any."""
    return [{"uuid": unit["uuid"], "name": f"{node}: {unit['name']}"} for unit in units]


HOMES_DIR = ".homes"  # under users_home_root: each user's whole home, in a Swarm


def swarm_hub_context(data, registry: str, units: list[dict]) -> dict:
    """What changes in the Hub's files (jhgpu/hub.py) when its users' servers run in a Swarm:
    the spawner, the GPUs of every node (`units`, named by node), and homes that follow their
    users, on the shared storage instead of a Docker volume of one node."""
    homes = f"{data.users_home_root}/{HOMES_DIR}"
    return {
        "swarm": {"registry": registry, "shm_size": data.user_shm_size},
        "spawner": "GpuSwarmSpawner",
        "gpus": units,
        "default_gpus": min(data.user_gpus, data.max_gpus_per_user) if units else 0,
        "user_folder_roots": [data.users_home_root, homes],
        "volumes": {f"{homes}/{{username}}": "/home/jovyan",
                    f"{data.users_home_root}/{{username}}": "/home/jovyan/work",
                    data.shared_data_dir: {"bind": "/home/jovyan/SHARED", "mode": "ro"}},
    }
