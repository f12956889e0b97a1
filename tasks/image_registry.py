"""Several servers: the Swarm's image registry on the Hub's server, and the notebook images in
it. The Hub's server builds the chain once (tasks/notebook_images.py); every node pulls an image
from here, by digest, when Swarm places a user's server there. Building on every node instead
would let nodes drift apart: docker-stacks resolves packages when it builds."""

from pyinfra import host

from jhgpu.fleet import advertise_address, role
from jhgpu.images import offered_images
from jhgpu.operations.docker import docker_image_present
from jhgpu.swarm import MANAGER, registry_address
from jhgpu.operations.swarm import image_pushed, registry_running

if role(host) == MANAGER:
    address = advertise_address(host)
    registry = registry_address(address, host.data.registry_port)
    docker_image_present(name=f"Pull {host.data.registry_image}", ref=host.data.registry_image)
    registry_running(name=f"Run the Swarm's image registry at {registry}",
                     container=f"{host.data.compose_project_name}-registry",
                     image=host.data.registry_image, address=address, port=host.data.registry_port,
                     data_dir=f"{host.data.jupyterhub_root}/registry")
    for ref in offered_images(host.data).values():
        image_pushed(name=f"Push {ref} to the Swarm's registry", ref=ref, registry=registry)
