"""Operations that make a host a node of the Hub's Docker Swarm (tasks/swarm.py) and fill the
Swarm's registry (tasks/image_registry.py). Decisions are jhgpu/swarm.py's."""

from __future__ import annotations

import io
import json
import shlex

from pyinfra import host
from pyinfra import logger
from pyinfra.api import FunctionCommand, OperationError, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.facts.files import FileContents

from jhgpu.facts.hub import HubContainers
from jhgpu.facts.docker import NetworkDriver, NetworkOptions, SwarmInfo
from jhgpu.operations.docker import local_image
from jhgpu.swarm import SWARM_PORT, in_registry, membership, pushed_ref, toolkit_config_with_swarm_resource
from jhgpu.uploads import upload

q = shlex.quote
TOOLKIT_CONFIG = "/etc/nvidia-container-runtime/config.toml"


@operation()
def nvidia_reads_swarm_resources(config: str = TOOLKIT_CONFIG):
    """The NVIDIA runtime exposes the GPUs Swarm assigned a task (DOCKER_RESOURCE_GPU), not
    NVIDIA_VISIBLE_DEVICES (which the CUDA images set to all). Read per container: no restart."""
    lines = host.get_fact(FileContents, path=config)
    changed = toolkit_config_with_swarm_resource("\n".join(lines) if lines else None)
    if changed is None:
        host.noop("the NVIDIA runtime reads Swarm's GPU assignment")
        return
    yield f"mkdir -p {q(config.rsplit('/', 1)[0])}"  # the toolkit's packages make it; be sure
    yield upload(io.StringIO(changed), config)


@operation()
def swarm_initialised(role: str, advertise: str, manager_address: str):
    """The Hub's server leads a Swarm of its own."""
    if membership(host.name, role, host.get_fact(SwarmInfo), manager_address) is None:
        host.noop("this host manages the Swarm")
        return
    yield f"docker swarm init --advertise-addr {q(advertise)} --listen-addr {q(advertise)}:{SWARM_PORT}"


JOINED: set[str] = set()  # the hosts that joined the Swarm in this run: its join token is rotated after


def _as_deployed(node) -> dict:
    """The connector arguments (sudo and the like) `node`'s operations run with: commands a
    function runs itself get none by default."""
    arguments, _ = pop_global_arguments(node.state, node, {})
    return {key: arguments[key] for key in CONNECTOR_ARGUMENT_KEYS if key in arguments and key != "_stdin"}


def _join(manager, advertise: str, manager_address: str) -> None:
    """Runs when the operation executes, after the manager's init. The join token goes from the
    manager to this host's Docker engine in memory and on standard input: `docker swarm join
    --token` would put it in the process list (and sudo's log), so the engine's API is asked
    directly, through its socket."""
    status, output = manager.run_shell_command("docker swarm join-token -q worker", print_output=False,
                                               **_as_deployed(manager))
    token = output.stdout.strip() if status else ""
    if not token:
        raise OperationError(f"could not read the Swarm's join token on {manager.name}: {output.stderr}")
    request = json.dumps({"ListenAddr": f"{advertise}:{SWARM_PORT}", "AdvertiseAddr": advertise,
                          "RemoteAddrs": [f"{manager_address}:{SWARM_PORT}"], "JoinToken": token})
    status, output = host.run_shell_command(
        "curl -sS --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' --data-binary @-"
        " -w '\\nHTTP %{http_code}\\n' http://localhost/swarm/join", _stdin=request, print_output=False,
        **_as_deployed(host))
    answer = output.stdout.strip().splitlines()
    if not status or not answer or answer[-1] != "HTTP 200":
        said = " ".join(answer[:-1]) or output.stderr
        raise OperationError(f"{host.name} could not join the Swarm at {manager_address}: {said}")
    JOINED.add(host.name)


@operation()
def swarm_joined(role: str, advertise: str, manager, manager_address: str):
    """A worker joins the Hub's server's Swarm, once."""
    if membership(host.name, role, host.get_fact(SwarmInfo), manager_address) is None:
        host.noop(f"this host is a worker of the Swarm at {manager_address}")
        return
    yield FunctionCommand(_join, (manager, advertise, manager_address), {})


@operation()
def join_token_rotated():
    """A new worker join token, once workers joined (run with `_if=workers_joined`): the one
    they used, which went over the wire, joins nothing any more. Nodes in the Swarm stay."""
    yield "docker swarm join-token --rotate -q worker >/dev/null"


def workers_joined() -> bool:
    return bool(JOINED)


@operation()
def overlay_network(network: str, encrypted: bool):
    """The network the Hub and users' servers share across nodes: attachable, so the Hub's
    Compose container joins it, and `encrypted` (IPsec between nodes). A bridge of that name (a
    single server's Hub) is refused: users' servers on it would lose the Hub. An existing overlay
    is kept as it is, encrypted or not: making it anew stops every user's server."""
    driver = host.get_fact(NetworkDriver, network=network)
    if driver == "overlay":
        if encrypted and "encrypted" not in (host.get_fact(NetworkOptions, network=network) or {}):
            host.log(f"Warning: network {network} is not encrypted (made before swarm_encrypted_network): traffic "
                     "between nodes crosses the LAN in clear. To encrypt it, stop users' servers and the Hub "
                     f"(docker compose down in jupyterhub_root), remove it (docker network rm {network}) and rerun",
                     logger.warning)
        host.noop(f"network {network} spans the Swarm")
        return
    if driver:
        raise OperationError(f"network {network} on {host.name} is a {driver} network (this server's Hub before the "
                             "Swarm): stop users' servers and the Hub (docker compose down in jupyterhub_root), "
                             f"remove it (docker network rm {network}) and rerun")
    yield (f"docker network create --driver overlay --attachable{' --opt encrypted' if encrypted else ''}"
           f" {q(network)}")


@operation()
def image_pushed(ref: str, registry: str):
    """The image in the Swarm's registry, under its own name, unless already pushed as it is."""
    if in_registry(local_image(ref), registry, ref):
        host.noop(f"{ref} is in the registry")
        return
    target = pushed_ref(registry, ref)
    yield f"docker tag {q(ref)} {q(target)} && docker push -q {q(target)}"


REGISTRY_LABEL = "org.jupytergpu.registry"  # on the registry's container: how it was started


@operation()
def registry_running(container: str, image: str, address: str, port: int, data_dir: str):
    """The Swarm's image registry on the Hub's server, published on the Swarm's address only,
    its images on the host (`data_dir`), so a new container keeps them."""
    wanted = f"{image} {address}:{port} {data_dir}"
    found = [c for c in host.get_fact(HubContainers, label=REGISTRY_LABEL) or [] if c["name"] == container]
    if found and found[0]["status"] == "running" and found[0]["labels"].get(REGISTRY_LABEL) == wanted:
        host.noop(f"the registry runs at {address}:{port}")
        return
    yield (f"mkdir -p {q(data_dir)} && docker rm -f {q(container)} >/dev/null 2>&1; docker run -d --name {q(container)}"
           f" --restart always --label {REGISTRY_LABEL}={q(wanted)} -p {q(address)}:{port}:5000"
           f" -v {q(data_dir)}:/var/lib/registry {q(image)} >/dev/null")
