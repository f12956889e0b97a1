"""One folder per group of team_folders in team_folders_root, made on the Hub's server once the
shared storage is mounted (in a Swarm every node sees them there): the notebook user's, since
every member's server runs as uid 1000, mode 2770. Never emptied or removed: a group dropped from
team_folders keeps its folder and files."""

from pyinfra import host

from jhgpu.fleet import is_worker
from jhgpu.hub import NOTEBOOK_GID, NOTEBOOK_UID
from jhgpu.operations.server import folder_owned_by_ids

if not is_worker(host):
    for team in host.data.team_folders:
        folder_owned_by_ids(name=f"Create the team folder of {team}", path=f"{host.data.team_folders_root}/{team}",
                            uid=NOTEBOOK_UID, gid=NOTEBOOK_GID, mode="2770")
