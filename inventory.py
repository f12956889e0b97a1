"""Your servers. List each one with any settings that differ from group_data/all.py.

    pyinfra inventory.py deploy.py --dry   # preview what would change
    pyinfra inventory.py deploy.py         # converge every server

Each entry is (address, host data). Host data holds pyinfra's connection settings (ssh_user,
ssh_key, ...) and any setting from group_data/all.py. Keep passwords out of this file: read
them from the environment or a secrets file outside the repository.
"""

gpu_servers = [
    ("gpu01.example.org", {"ssh_user": "ubuntu", "_sudo": True}),
    # ("gpu02.example.org", {"ssh_user": "admin", "_sudo": True, "shared_data_dir": "/mnt/datasets"}),
    # ("cpu01.example.org", {"ssh_user": "admin", "_sudo": True, "gpu_enabled": False}),
]
