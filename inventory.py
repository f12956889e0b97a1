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
    # A Debian 12 server: its archive's 535 driver runs the default CUDA 12.8.1 images through
    # minor version compatibility (the deploy warns); nvidia_driver_branch stays "auto".
    # ("gpu03.example.org", {"ssh_user": "admin", "_sudo": True}),
    # A server whose driver you manage yourself (a cloud GPU image's): the deploy only checks it.
    # ("gpu04.example.org", {"ssh_user": "ubuntu", "_sudo": True, "nvidia_driver_branch": None}),
    # ("cpu01.example.org", {"ssh_user": "admin", "_sudo": True, "gpu_enabled": False}),
]

# Several GPU servers, one Hub (docs/swarm-or-kubernetes.md): instead of gpu_servers above, put the
# server that runs the Hub in hub_server and the others in gpu_workers. Users log in at the Hub's
# server; their servers run wherever GPUs are free; homes are the Hub's server's, over NFS.
# hub_server = [
#     ("gpu01.example.org", {"ssh_user": "ubuntu", "_sudo": True, "swarm_advertise_address": "10.0.0.1",
#                            "hub_users": ["alice", "bob"], "hub_passwords": hub_passwords}),
# ]
# gpu_workers = [
#     ("gpu02.example.org", {"ssh_user": "ubuntu", "_sudo": True, "swarm_advertise_address": "10.0.0.2"}),
#     ("gpu03.example.org", {"ssh_user": "ubuntu", "_sudo": True, "swarm_advertise_address": "10.0.0.3"}),
# ]
