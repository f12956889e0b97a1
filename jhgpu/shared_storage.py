"""Users' homes (users_home_root), the shared data folder (shared_data_dir) and, with
team_folders, the team folders (team_folders_root), the same on every node of a Swarm at the same
paths: what each node installs, exports and mounts. Decisions only: settings, the host's role and
the nodes' addresses in, a plan out.

`shared_storage` (group_data/all.py) says where the two folders live:
- "nfs": on the Hub's server (the Swarm's manager), which exports them to each worker's address;
  the workers mount them;
- "external-nfs": on `nfs_server` (`nfs_homes_export`, `nfs_shared_export`, `nfs_teams_export`);
  every node mounts them, the Hub's server included;
- "mounted": the admin mounted them on every node (CephFS, GPFS, ...); each worker's are checked.
  The Hub's server is not: the storage may be its own disk.
A single server keeps both on its own disk, and nothing here applies.

Root over NFS:
- "nfs" exports to the workers' addresses only, with `no_root_squash`: a worker's Docker engine
  (root) must pass users_home_root (root's, mode 0700, so that no host account can read users'
  folders) to bind each user's folders. Squashing root would buy nothing here: under NFS's usual
  AUTH_SYS a client's root can pose as any uid, the notebook user's included, so the export
  trusts the workers' hosts, the lab's own GPU servers, either way.
- "external-nfs" makes the Hub's server a client too: the Hub (root in its container) makes each
  new user's folder in users_home_root and hands it to uid 1000, which a squashed root cannot.
  So the admin's export of `nfs_homes_export` must let root through from the Hub's server
  (`no_root_squash` for that client). Making every user's folder beforehand instead would break
  adding users in the Hub's admin panel. The deploy cannot see the server's export options:
  documented, not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Sequence

from pyinfra.api.exceptions import PyinfraError

from jhgpu.swarm import MANAGER, SINGLE, WORKER

NFS, EXTERNAL_NFS, MOUNTED = "nfs", "external-nfs", "mounted"
SHARED_FOLDERS = ("users_home_root", "shared_data_dir")  # the settings, in the order they mount
TEAMS = "team_folders_root"  # shared too, once team_folders lists a group
# With "external-nfs": the setting naming the export mounted at each folder.
EXTERNAL_EXPORTS = {"users_home_root": "nfs_homes_export", "shared_data_dir": "nfs_shared_export",
                    TEAMS: "nfs_teams_export"}
EXPORTS_FILE = "/etc/exports.d/jupytergpu.exports"  # exports(5): exportfs reads /etc/exports.d/*.exports
EXPORT_OPTIONS = "rw,sync,no_subtree_check,no_root_squash"
SERVER_PACKAGES = ("nfs-kernel-server",)
CLIENT_PACKAGES = ("nfs-common",)
# nfs(5), https://man7.org/linux/man-pages/man5/nfs.5.html: `hard` retries a request until the
# server answers (the default, spelled out: `soft` "can cause silent data corruption"); NFS 4.2,
# which every supported release's kernel serves and mounts, needs only TCP port 2049 (no rpcbind).
# systemd.mount(5): `_netdev` marks a network mount, made once the network is up and unmounted
# before it goes down. `nosuid,nodev` (mount(8)): a setuid program or a device node someone
# planted in a home does nothing on any node.
OWN_SERVER_OPTIONS = "rw,nosuid,nodev,hard,_netdev,nfsvers=4.2"
# An admin's NFS server may stop at 4.1 or 3 (many NAS do): the client and server then agree on
# the newest version both speak (nfs(5), `nfsvers`).
EXTERNAL_SERVER_OPTIONS = "rw,nosuid,nodev,hard,_netdev"
SAFE_OPTIONS = ("nosuid", "nodev")  # what every shared folder's mount must carry, on every node


class SharedStorageError(PyinfraError):
    """The shared folders cannot be made the same on every node; pyinfra prints it, nothing changed."""


@dataclass(frozen=True)
class Node:
    """Another node of the Swarm, as this host's plan sees it."""

    name: str
    address: str | None  # where the other nodes reach it (jhgpu.fleet.advertise_address)


@dataclass(frozen=True)
class Mount:
    """One NFS export mounted at one of the shared folders."""

    setting: str  # "users_home_root" or "shared_data_dir"
    path: str
    source: str  # "server:/export", as mount(8) and findmnt(8) write it
    options: str

    @property
    def fstab_line(self) -> str:
        return f"{self.source} {self.path} nfs {self.options} 0 0"

    @property
    def fstab_pattern(self) -> str:
        """An extended regex for any active /etc/fstab entry at this mount point, whatever it mounts."""
        path = re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", self.path)  # grep -E and sed -E
        return rf"^[^#[:space:]]+[[:space:]]+{path}/?[[:space:]]"


@dataclass(frozen=True)
class StoragePlan:
    storage: str = ""  # the shared_storage it was made for
    packages: tuple[str, ...] = ()
    exports: str | None = None  # EXPORTS_FILE's text, on the manager with "nfs"...
    exported: tuple[str, ...] = ()  # ...and the folders it exports
    mounts: tuple[Mount, ...] = ()
    # ("setting", path) that must already be mount points ("mounted", on workers).
    mount_points: tuple[tuple[str, str], ...] = ()

    @property
    def checked_paths(self) -> list[str]:
        """The paths whose mounts the host must report (the MountSources fact)."""
        return [mount.path for mount in self.mounts] + [path for _, path in self.mount_points]


def _path(value: str) -> str:
    return str(PurePosixPath(value))


def shared_settings(data: Any) -> tuple[str, ...]:
    """The folder settings every node shares: the homes and shared data, and the team folders
    when there are any."""
    return (*SHARED_FOLDERS, TEAMS) if data.team_folders else SHARED_FOLDERS


def _folders(data: Any) -> list[tuple[str, str]]:
    return [(setting, _path(getattr(data, setting))) for setting in shared_settings(data)]


def _server(address: str) -> str:
    """An address as the server part of "server:/export" (IPv6 in brackets, nfs(5))."""
    return f"[{address}]" if ":" in address else address


def exports_text(folders: Sequence[tuple[str, str]], addresses: Sequence[str]) -> str:
    """EXPORTS_FILE: each folder exported to each worker's address."""
    clients = " ".join(f"{address}({EXPORT_OPTIONS})" for address in sorted(set(addresses)))
    lines = [f"{path} {clients}" for _, path in folders]
    return ("# Written by the deploy (tasks/shared_storage.py): the Swarm's workers mount these.\n"
            + "\n".join(lines) + "\n")


def _path_mismatches(host_name: str, data: Any, manager: Node, manager_data: Any) -> list[str]:
    # The Hub on the manager names its own paths in every user's container, wherever it runs.
    return [f"host '{host_name}' has {setting} = {getattr(data, setting)!r} but the Hub's server "
            f"'{manager.name}' has {getattr(manager_data, setting)!r}: the shared folders must be at the "
            f"same paths on every node" for setting in shared_settings(manager_data)
            if _path(getattr(data, setting)) != _path(getattr(manager_data, setting))]


def _no_address(node: Node, why: str) -> str:
    return (f"host '{node.name}' has no address {why}: set swarm_advertise_address for it (it has no "
            f"default route to take one from)")


def storage_plan(host_name: str, data: Any, role: str, manager: Node, workers: Sequence[Node],
                 manager_data: Any = None) -> StoragePlan:
    """What this host installs, exports and mounts so that the shared folders are the same on
    every node. `data`: the host's settings; `manager`, `workers`: the Swarm's other nodes (the
    host itself among them); `manager_data`: the manager's settings (default: `data`). Raises
    SharedStorageError naming the host and the setting."""
    if role == SINGLE:
        return StoragePlan()
    storage = data.shared_storage
    problems = _path_mismatches(host_name, data, manager, manager_data if manager_data is not None else data)
    folders = _folders(data)
    plan = StoragePlan()
    if storage == NFS and role == MANAGER:
        missing = [node for node in workers if not node.address]
        problems += [_no_address(node, f"for the NFS exports of the Hub's server '{manager.name}' "
                                       "(shared_storage = 'nfs')") for node in missing]
        plan = StoragePlan(storage, packages=SERVER_PACKAGES,
                           exports=exports_text(folders, [node.address for node in workers if node.address]),
                           exported=tuple(path for _, path in folders))
    elif storage == NFS and role == WORKER:
        if not manager.address:
            problems.append(_no_address(manager, f"for host '{host_name}' to mount the shared folders from "
                                                 "(shared_storage = 'nfs')"))
        server = _server(manager.address or "")
        plan = StoragePlan(storage, packages=CLIENT_PACKAGES, mounts=tuple(
            Mount(setting, path, f"{server}:{path}", OWN_SERVER_OPTIONS) for setting, path in folders))
    elif storage == EXTERNAL_NFS:
        exports = {folder: getattr(data, EXTERNAL_EXPORTS[folder]) for folder, _ in folders}
        problems += [f"host '{host_name}' needs setting '{name}' with shared_storage = 'external-nfs'"
                     for name in ("nfs_server", *(EXTERNAL_EXPORTS[folder] for folder, _ in folders))
                     if not getattr(data, name)]
        server = _server(data.nfs_server or "")
        plan = StoragePlan(storage, packages=CLIENT_PACKAGES, mounts=tuple(
            Mount(setting, path, f"{server}:{_path(exports[setting] or '/')}", EXTERNAL_SERVER_OPTIONS)
            for setting, path in folders))
    elif storage == MOUNTED and role == WORKER:
        plan = StoragePlan(storage, mount_points=tuple(folders))
    if problems:
        raise SharedStorageError(_refusal(host_name, problems))
    return plan


def mounts_to_make(host_name: str, plan: StoragePlan, mounted: dict[str, str | None]) -> list[Mount]:
    """The plan's mounts not made yet. `mounted`: the MountSources fact for plan.checked_paths
    ({path: what is mounted there, or None}). A path mounted from elsewhere is refused, never
    remounted (users' containers may hold it), and so is a "mounted" path that is no mount point."""
    problems = []
    for setting, path in plan.mount_points:
        if not mounted.get(path):
            problems.append(f"{setting} {path} is not a mount point, and "
                            "shared_storage = 'mounted' says it is mounted on every node. Mount it (and add it "
                            "to /etc/fstab), or choose another shared_storage")
    missing = []
    for mount in plan.mounts:
        found = mounted.get(mount.path)
        if not found:
            missing.append(mount)
        elif _source(found) != _source(mount.source):
            problems.append(f"{mount.setting} {mount.path} has {found} mounted, not "
                            f"{mount.source} (shared_storage = {plan.storage!r}). Unmount it "
                            f"(umount {mount.path}) and rerun, or change the settings")
    if problems:
        raise SharedStorageError(_refusal(host_name, problems))
    return missing


def mounts_without_safe_options(plan: StoragePlan, options: dict[str, list[str] | None]) -> tuple[list[Mount], list[str]]:
    """The shared folders mounted without SAFE_OPTIONS, from the MountOptions fact for
    plan.checked_paths: (the plan's own mounts, to remount with them now that /etc/fstab has
    them; the admin's mount points ("mounted"), to warn about: their /etc/fstab is the admin's)."""
    def unsafe(path: str) -> bool:
        found = options.get(path)
        return found is not None and not set(SAFE_OPTIONS) <= set(found)

    return ([mount for mount in plan.mounts if unsafe(mount.path)],
            [f"{setting} {path} is mounted without {','.join(SAFE_OPTIONS)}: a setuid program or device node planted "
             "there would work on this node. Add them to its /etc/fstab entry and remount"
             for setting, path in plan.mount_points if unsafe(path)])


def _source(source: str) -> str:
    server, _, export = source.rpartition(":")
    return f"{server}:{_path(export)}" if export.startswith("/") else source


def _refusal(host_name: str, problems: list[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return f"host '{host_name}' cannot have the shared folders of the other nodes:\n{lines}"


DOCKER_DROPIN = "/etc/systemd/system/docker.service.d/jupytergpu-shared-storage.conf"


def docker_waits_for_mounts(plan: StoragePlan) -> str | None:
    """A drop-in for docker.service on a node that mounts the shared folders: Docker starts once
    they are mounted, so no user's server starts at boot on an empty mount point (and writes
    there, out of sight of the export). None where the node mounts nothing."""
    if not plan.mounts:
        return None
    paths = " ".join(mount.path for mount in plan.mounts)
    return ("# Written by the deploy (tasks/shared_storage.py): Docker starts once the shared folders\n"
            f"# are mounted.\n[Unit]\nRequiresMountsFor={paths}\n")
