"""The Hub: its image, its files rendered from templates/, and its container under Compose.

Nothing here restarts the Hub by itself: `hub_running` compares the running container with the
files and image and recreates it only when they differ, so a rerun leaves a converged Hub alone.
"""

import json
from io import StringIO

from pyinfra import host
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import Hostname
from pyinfra.operations import files

from jhgpu.auth import OIDC, auth_uploads, identity_check
from jhgpu.facts.identity import identity_answer
from jhgpu.facts.nvidia import NvidiaGpus
from jhgpu.fleet import advertise_address, role, worker_hosts
from jhgpu.gpu_allocation import allocatable_gpus
from jhgpu.hub import (ACCOUNTS_SCRIPT, DECLARED_RECORD, HUB_DATA_DIR, HUB_DB_FILE, HUB_HOME, HUB_MODULES, HubNames, declared_accounts,
                       hub_files, hub_image_build)
from jhgpu.hub_services import PROMETHEUS_TOKEN_FILE
from jhgpu.images import BUILD_LOGS_DIR, DIGEST_LABEL
from jhgpu.operations.docker import docker_image_present, superseded_images_removed
from jhgpu.operations.hub import bridge_network, hub_running
from jhgpu.operations.images import docker_image
from jhgpu.platform import docker_plan_of
from jhgpu.swarm import MANAGER, node_units, registry_address
from jhgpu.tls import proxy_plan

root = host.data.jupyterhub_root
user = host.data.jupyterhub_user
names = HubNames.of(host.data)
# Every name ever declared on this host, so that names removed since are blocked.
record = f"{root}/{HUB_DATA_DIR}/{DECLARED_RECORD}"
ever_declared = sorted({*json.loads("".join(host.get_fact(FileContents, path=record) or ["[]"])),
                        *declared_accounts(host.data)})
# The GPUs the Hub hands out, as the driver sees them now (none before its first reboot).
gpus = host.get_fact(NvidiaGpus) if host.data.gpu_enabled else None
# Several servers: users' servers run on every node of the Swarm, with every node's GPUs.
swarm = None
if role(host) == MANAGER:
    nodes = [host, *worker_hosts(host)]
    swarm = {"registry": registry_address(advertise_address(host), host.data.registry_port),
             "units": [unit for node in nodes if node.data.gpu_enabled
                       for unit in node_units(node.name, allocatable_gpus(node.get_fact(NvidiaGpus)))]}
# The sign-on provider's endpoints (hub_auth "oidc"), from the discovery document the preflight read.
discovery = identity_answer(host, identity_check(host.data)) if host.data.hub_auth == OIDC else None
rendered = hub_files(host.data, ever_declared, gpus, host.get_fact(Hostname), swarm,
                     (discovery or {}).get("document"))
proxy = proxy_plan(host.data, host.get_fact(Hostname))
build = hub_image_build(host.data)

# Root's alone: the Hub (root in its container) keeps password hashes and its cookie secret here.
files.directory(name="Create the Hub's data folder", path=f"{root}/{HUB_DATA_DIR}",
                user="root", group="root", mode="700")
files.put(name="Record the declared accounts", src=StringIO(json.dumps(ever_declared) + "\n"), dest=record,
          user="root", group="root", mode="600")
files.directory(name="Create the Hub image's build folder", path=build.context, user=user, group=user)
written = [files.put(name=f"Write {path}", src=StringIO(content), dest=f"{root}/{path}", user=user, group=user,
                     mode="644") for path, content in rendered.files.items()]
# Secrets and CAs read by the Hub at start (the directory's or provider's, Prometheus' token): root's.
secrets = {**auth_uploads(host.data),
           **({host.data.prometheus_token_file: PROMETHEUS_TOKEN_FILE} if host.data.prometheus_token_file else {})}
written += [files.put(name=f"Upload {local} into the Hub's data folder", src=local, dest=f"{root}/{HUB_DATA_DIR}/{name}",
                      user="root", group="root", mode="600") for local, name in secrets.items()]
files.put(name="Upload the Hub's account tool", src=str(ACCOUNTS_SCRIPT),
          dest=f"{build.context}/hub-accounts.py", user=user, group=user, mode="755")
for module in HUB_MODULES:
    files.put(name=f"Upload the Hub's {module.name}", src=str(module), dest=f"{build.context}/{module.name}",
              user=user, group=user, mode="644")
if host.data.build_ca_certificates:
    files.put(name="Upload build_ca_certificates for the Hub image", src=host.data.build_ca_certificates,
              dest=f"{build.context}/extra-ca-certificates.crt", user=user, group=user)

docker_image_present(name=f"Pull {host.data.hub_base_image}", ref=host.data.hub_base_image)
docker_image(name=f"Build {build.ref}", build=build, log_dir=f"{root}/{BUILD_LOGS_DIR}")
if swarm is None:
    bridge_network(name=f"Create the Hub's network {names.network} (bridge {names.bridge})", network=names.network,
                   bridge=names.bridge)
hub_running(
    name="Run the Hub" + (" behind its HTTPS proxy" if proxy else f" on port {host.data.hub_port}"),
    compose_command=docker_plan_of(host).compose_command, project_dir=root,
    container=names.container, image=names.image, config_digest=rendered.config_digest,
    proxy=proxy and {"container": proxy.container, "digest": rendered.proxy_digest, "image": host.data.proxy_image},
    # A rendered file rewritten now (edited by hand since) means the running Hub read another.
    files_changed=lambda: any(op.did_change() if op.is_complete() else op.will_change for op in written),
    database={"host": f"{root}/{HUB_DATA_DIR}/{HUB_DB_FILE}", "hub": f"{HUB_HOME}/{HUB_DATA_DIR}/{HUB_DB_FILE}"},
)
# Last, once the Hub runs from its new image: what the rebuilds (notebook images, the Hub's) left.
superseded_images_removed(name="Remove images the rebuilds superseded", label=DIGEST_LABEL)
