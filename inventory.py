"""Your servers. List each one with any settings that differ from group_data/all.py.

    pyinfra inventory.py deploy.py --dry   # preview what would change
    pyinfra inventory.py deploy.py         # converge every server

Each entry is (address, host data). Host data holds pyinfra's connection settings (ssh_user,
ssh_key, ...) and any setting from group_data/all.py. Keep passwords out of this file: read
them from the environment or a secrets file outside the repository, as below.
"""

import os

# Initial Hub passwords, e.g. export JUPYTERHUB_PASSWORD_ALICE=...; accounts without one get a
# generated password, written on the server to hub_passwords_file (root only).
hub_passwords = {name: os.environ[f"JUPYTERHUB_PASSWORD_{name.upper()}"]
                 for name in ("alice", "bob") if f"JUPYTERHUB_PASSWORD_{name.upper()}" in os.environ}

gpu_servers = [
    ("gpu01.example.org", {"ssh_user": "ubuntu", "_sudo": True,
                           "hub_users": ["alice", "bob"], "hub_passwords": hub_passwords}),
    # ("gpu02.example.org", {"ssh_user": "admin", "_sudo": True, "shared_data_dir": "/mnt/datasets",
    #                        "nvidia_allow_reboot": True}),
    # A Debian 12 server: its archive's driver branch and a CUDA image that branch can run (CUDA
    # 12.2 images are Ubuntu 22.04, so also a docker_stacks_ref from before the move to 24.04).
    # ("gpu03.example.org", {"ssh_user": "admin", "_sudo": True, "nvidia_driver_branch": "535",
    #                        "notebook_root_image": "nvidia/cuda:12.2.2-cudnn8-runtime-ubuntu22.04"}),
    # ("cpu01.example.org", {"ssh_user": "admin", "_sudo": True, "gpu_enabled": False}),
]
