"""The Hub's folder, the users' home root and the shared data folder, with deliberate owners.

- jupyterhub_root: the Hub user's, 0750; it will hold the Hub's database and secrets.
- users_home_root: root's, 0700; each user's folder inside is made by the Hub for that user,
  owned by the notebook user's uid (1000), which on the server is often a person's login (the
  `ubuntu` user of cloud images): only root may pass this folder, so no account reads them.
- shared_data_dir: the Hub user's, 0755; admins put data here, users get it read-only.
- team_folders_root: root's, 0700; in it, one folder per group of team_folders, the notebook
  user's (every member's server runs as uid 1000), 2770: the group's own files stay its own.
"""

from pathlib import PurePosixPath

from pyinfra import host
from pyinfra.operations import files

from jhgpu.fleet import is_worker
from jhgpu.hub import NOTEBOOK_GID, NOTEBOOK_UID
from jhgpu.operations.server import folder_owned_by_ids

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

if not is_worker(host):
    for team in host.data.team_folders:  # never emptied or removed: a group dropped keeps its files
        folder_owned_by_ids(name=f"Create the team folder of {team}", path=f"{host.data.team_folders_root}/{team}",
                            uid=NOTEBOOK_UID, gid=NOTEBOOK_GID, mode="2770")
