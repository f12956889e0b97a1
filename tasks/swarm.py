"""Several GPU servers as one Docker Swarm (inventory groups hub_server and gpu_workers): the
Hub's server initialises it, the others join it, and every node advertises its GPUs by UUID.
A single server is left as it is. Decisions are in jhgpu/swarm.py; why Swarm, and when to move
to Kubernetes, in docs/swarm-or-kubernetes.md."""

import functools

from pyinfra import host

from jhgpu.facts.nvidia import NvidiaGpus
from jhgpu.fleet import advertise_address, hub_host, role
from jhgpu.gpu_allocation import allocatable_gpus
from jhgpu.hub import HubNames
from jhgpu.operations.docker import docker_daemon_json
from jhgpu.swarm import MANAGER, SINGLE, daemon_json_for_swarm, generic_resources, registry_address
from jhgpu.operations.swarm import (join_token_rotated, nvidia_reads_swarm_resources, overlay_network, swarm_initialised,
                                   swarm_joined, workers_joined)

node_role = role(host)
if node_role != SINGLE:
    manager = hub_host(host)
    manager_address = advertise_address(manager)
    gpus = allocatable_gpus(host.get_fact(NvidiaGpus)) if host.data.gpu_enabled else []
    if host.data.gpu_enabled:
        nvidia_reads_swarm_resources(name="Have the NVIDIA runtime expose the GPUs Swarm assigns")
    # A first conversion restarts Docker: the servers running on this node stop.
    docker_daemon_json(
        name=f"Advertise {len(gpus)} GPU(s) to the Swarm and trust its registry (restarts Docker if it changed)",
        merge=functools.partial(daemon_json_for_swarm, resources=generic_resources(gpus),
                                registry=registry_address(manager_address, manager.data.registry_port)),
        done="is set for the Swarm")
    if node_role == MANAGER:
        swarm_initialised(name="Start the Swarm on the Hub's server", role=node_role,
                          advertise=advertise_address(host), manager_address=manager_address)
        overlay_network(name="Create the Swarm network of the Hub and users' servers",
                        network=HubNames.of(host.data).network, encrypted=host.data.swarm_encrypted_network)
    else:
        swarm_joined(name=f"Join the Swarm of {manager.name}", role=node_role, advertise=advertise_address(host),
                     manager=manager, manager_address=manager_address)
    if node_role == MANAGER:  # after every worker's join (operations run in the order written)
        join_token_rotated(name="Rotate the Swarm's join token, now that workers joined", _if=workers_joined)
