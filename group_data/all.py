"""Settings reference: every setting of this deploy, its default, and what it does.

Override any of them per host or per group in `inventory.py` (pyinfra host/group data), e.g.
    ("gpu01.example.org", {"shared_data_dir": "/mnt/datasets", "gpu_enabled": False})
Values are checked by `jhgpu/settings.py` before anything on a host changes: an unknown name,
a wrong type or an impossible value stops the deploy with the host's and the setting's name.
"""

# --- Accounts and folders --------------------------------------------------------------------

# System user (and group) that owns the Hub's files; a member of the `docker` group.
jupyterhub_user = "jupyterhub"

# Folder holding the Hub's files (Dockerfile, config, Compose file, database). Absolute path.
jupyterhub_root = "/home/jupyterhub/JupyterHubGPU"

# One folder per Hub user lives here; it is mounted as that user's ~/work. Absolute path.
users_home_root = "/home/jh_users"

# Data shared read-only with every user (~/SHARED). Must be a folder under /mnt.
shared_data_dir = "/mnt/shared"

# --- Docker ----------------------------------------------------------------------------------

# Where Docker and Compose come from: "distro" (the OS archive: docker.io, plus Compose v2 on
# Ubuntu and Compose v1 `docker-compose` on Debian 12) or "docker-ce" (Docker's own apt
# repository with the Compose plugin).
docker_source = "distro"

# Docker's apt repository, used when docker_source = "docker-ce" (point it at a mirror if needed).
# The OS ("ubuntu" or "debian") is appended, e.g. https://download.docker.com/linux/ubuntu.
docker_ce_repo_url = "https://download.docker.com/linux"

# Compose project name: prefixes the Hub's containers, network and volumes.
compose_project_name = "jupyterhub"

# Image archives (`docker save` output) on the machine running pyinfra, uploaded and
# `docker load`ed on the host when an image they hold is missing there. For air-gapped hosts.
preload_images = []

# --- Hardware and builds ---------------------------------------------------------------------

# True: NVIDIA driver, container runtime and GPU requests for users. False: a CPU-only Hub.
gpu_enabled = True

# A local file of extra CA certificates (PEM) that image builds must trust, for sites behind a
# TLS-intercepting proxy. None: builds trust only the images' own CA bundle.
build_ca_certificates = None

# Packages every host gets before anything else (the deploy itself needs curl, git and gnupg).
base_packages = ["ca-certificates", "curl", "git", "gnupg"]
