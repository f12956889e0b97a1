"""The Hub's folder, the users' home root and the shared data folder, with deliberate owners.

- jupyterhub_root: the Hub user's, 0750; it will hold the Hub's database and secrets.
- users_home_root: root's, 0700; each user's folder inside is made by the Hub for that user,
  owned by the notebook user's uid (1000), which on the server is often a person's login (the
  `ubuntu` user of cloud images): only root may pass this folder, so no account reads them.
- shared_data_dir: the Hub user's, 0755; admins put data here, users get it read-only.
- team_folders_root: root's, 0700 (the folders in it: tasks/team_folders.py).
"""

from pathlib import PurePosixPath

from pyinfra import host
from pyinfra.operations import files

from jhgpu.fleet import is_worker

user = host.data.jupyterhub_user

FOLDERS = [(host.data.jupyterhub_root, user, user, "750")]
if not is_worker(host):  # a Swarm's workers mount the Hub's server's (tasks/shared_storage.py)
    FOLDERS += [(host.data.users_home_root, "root", "root", "700"), (host.data.shared_data_dir, user, user, "755")]
    if host.data.team_folders:
        FOLDERS.append((host.data.team_folders_root, "root", "root", "700"))

for path, owner, group, mode in FOLDERS:
    # Missing parents are made root's and world-readable, like any system folder.
    files.directory(name=f"Create {PurePosixPath(path).parent}", path=str(PurePosixPath(path).parent))
    files.directory(name=f"Create {path}", path=path, user=owner, group=group, mode=mode)
