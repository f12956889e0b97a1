"""Storage limits per user (user_storage_quota): every user's folder in users_home_root a project
with a hard limit, on XFS or ext4 mounted with project quotas; their home volume (the rest of the
home, on a single server) joins the same project where Docker keeps volumes on that filesystem.
Every user's server writes as the same uid (1000), so user quotas could not tell users apart; a
project quota counts one folder tree whoever writes in it. Decisions only: the setting and the
filesystem (the FilesystemOf fact) in, problems or a plan out; templates/jupyterhub-quotas.sh.j2
applies it.

xfs_quota(8): "project -s" marks a tree as project N (inherited by everything made in it later),
"limit -p bhard=" sets its hard limit; the mount needs prjquota (or pquota). On ext4 (since
Linux 4.5), `chattr -p N +P` marks the tree and setquota(8) -P sets the limit; the filesystem needs
the project and quota features (mkfs.ext4 -O quota,project) and the prjquota mount option.
A user over the limit gets "Disk quota exceeded" (EDQUOT) in their own server only.

Project ids and names live in /etc/projid (projid(5), read by xfs_quota and the quota tools):
each user's project is jupyterhub-<folder>, its id allocated once, past FIRST_PROJECT_ID and every
id already there (a site's own projects keep theirs).
"""

from __future__ import annotations

from dataclasses import dataclass

from jhgpu.group_profiles import memory_bytes
from jhgpu.hub import home_volume_prefix

# Mount options that enforce project quotas, by filesystem (xfs(5), ext4(5)).
ENFORCING = {"xfs": ("prjquota", "pquota"), "ext4": ("prjquota",)}
PACKAGES = {"xfs": ("xfsprogs",), "ext4": ("quota", "e2fsprogs")}
SCRIPT = "/usr/local/sbin/jupyterhub-quotas"
UNIT = "jupyterhub-quotas"
PROJID_FILE = "/etc/projid"
FIRST_PROJECT_ID = 100000
LOCK_FILE = "/run/jupyterhub-quotas.lock"
# Where Docker keeps volumes by default (dockerd --data-root, /var/lib/docker): watched for new
# home volumes. Elsewhere a new volume gets its project at the next user's first start or deploy.
DOCKER_VOLUMES = "/var/lib/docker/volumes"


@dataclass(frozen=True)
class QuotaPlan:
    fstype: str
    mountpoint: str
    homes: str  # users_home_root
    limit_kib: int
    home_volumes: str  # the name prefix of users' home volumes
    projid_file: str = PROJID_FILE
    first_id: int = FIRST_PROJECT_ID
    lock_file: str = LOCK_FILE

    @property
    def packages(self) -> tuple[str, ...]:
        return PACKAGES[self.fstype]


def quota_problems(host_name: str, quota: str | None, filesystem: dict | None, homes: str) -> list[str]:
    """Why user_storage_quota cannot hold on this host; [] when it can (or is unset)."""
    if not quota:
        return []
    if not filesystem:
        return [f"setting 'user_storage_quota': cannot tell which filesystem holds {homes} on host '{host_name}'"]
    fstype, options = filesystem["type"], filesystem["options"]
    if fstype not in ENFORCING:
        return [f"setting 'user_storage_quota' needs users_home_root ({homes}) on XFS or ext4 with project quotas, "
                f"but on host '{host_name}' it is on {fstype} ({filesystem['mountpoint']})"]
    if not set(ENFORCING[fstype]) & set(options):
        needs = ("the prjquota mount option" if fstype == "xfs"
                 else "mkfs.ext4 -O quota,project (or tune2fs -O quota,project) and the prjquota mount option")
        return [f"setting 'user_storage_quota' needs project quotas on {filesystem['mountpoint']} ({fstype}) on host "
                f"'{host_name}': it is mounted {','.join(options)}; it needs {needs}, then a remount"]
    return []


def quota_plan(data, filesystem: dict) -> QuotaPlan | None:
    if not data.user_storage_quota:
        return None
    return QuotaPlan(fstype=filesystem["type"], mountpoint=filesystem["mountpoint"], homes=data.users_home_root,
                     limit_kib=int(memory_bytes(data.user_storage_quota) // 1024),
                     home_volumes=home_volume_prefix(data))


def unit_files(plan: QuotaPlan) -> dict[str, str]:
    """The path unit that runs SCRIPT whenever users_home_root changes (a user's first start
    makes their folder there) or Docker makes a volume, and the service it starts."""
    return {
        f"{UNIT}.service": ("# Written by the deploy (tasks/quotas.py).\n[Unit]\n"
                            "Description=Give every JupyterHub user's folder its storage limit\n\n"
                            f"[Service]\nType=oneshot\nExecStart={SCRIPT}\n"),
        f"{UNIT}.path": ("# Written by the deploy (tasks/quotas.py).\n[Unit]\n"
                         "Description=Watch for new JupyterHub users' folders and home volumes\n\n"
                         f"[Path]\nPathChanged={plan.homes}\nPathChanged={DOCKER_VOLUMES}\n\n"
                         "[Install]\nWantedBy=multi-user.target\n"),
    }
