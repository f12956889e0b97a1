"""Turn a bare (GPU) server into a multi-user JupyterHub. Run: pyinfra inventory.py deploy.py

Each step is one file in tasks/; settings and their defaults are in group_data/all.py. Several
servers (inventory groups hub_server and gpu_workers) make one Hub: workers run users' servers.
"""

from pyinfra import config, host, local, state

from jhgpu import fact_cache
from jhgpu.fleet import is_worker
from jhgpu.uploads import use_upload_folder

use_upload_folder(state, config)  # uploads through sudo never pass through /tmp

fact_cache.install()  # each fact read once while nothing on the host changes
fact_cache.read_ahead(host)  # ...and the facts its last run asked for, read in one command

local.include("tasks/preflight.py")  # bad settings, an unsupported OS or impossible GPU setups stop here
local.include("tasks/upload_folder.py")
local.include("tasks/base_packages.py")
local.include("tasks/nvidia_driver.py")  # first, as it may need a reboot
local.include("tasks/docker.py")
local.include("tasks/nvidia_container_toolkit.py")
local.include("tasks/swarm.py")  # several servers: one Swarm, each node's GPUs advertised
local.include("tasks/jupyterhub_user.py")
local.include("tasks/folders.py")
local.include("tasks/shared_storage.py")  # several servers: homes and shared data on every node
local.include("tasks/team_folders.py")  # each group's own, on the shared storage
if not is_worker(host):
    local.include("tasks/quotas.py")  # user_storage_quota: each user's folder a project quota
local.include("tasks/gpu_usage.py")  # every GPU node's usage, for the admins' page and idle GPUs
if not is_worker(host):  # a Swarm's workers only run users' servers: the rest is the Hub's server's
    local.include("tasks/preload_images.py")
    local.include("tasks/notebook_images.py")
    local.include("tasks/backups.py")  # restic on a timer; a new server restored before its Hub starts
    local.include("tasks/https.py")  # the proxy's certificates, before the Hub's Compose project starts it
    local.include("tasks/hub.py")
    local.include("tasks/image_registry.py")  # several servers: the images, where every node pulls them
    local.include("tasks/hub_accounts.py")
    local.include("tasks/gpu_check.py")  # a user container sees the GPUs
local.include("tasks/user_egress.py")  # every node; once the Hub's network exists
