"""Turn a bare (GPU) server into a multi-user JupyterHub. Run: pyinfra inventory.py deploy.py

Each step is one file in tasks/; settings and their defaults are in group_data/all.py.
"""

from pyinfra import local

local.include("tasks/preflight.py")  # bad settings or an unsupported OS stop here
local.include("tasks/base_packages.py")
local.include("tasks/docker.py")
local.include("tasks/jupyterhub_user.py")
local.include("tasks/folders.py")
local.include("tasks/preload_images.py")
local.include("tasks/notebook_images.py")
local.include("tasks/hub.py")
local.include("tasks/hub_accounts.py")
