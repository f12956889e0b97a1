"""Users' homes and the shared data folder, the same on every node of a Swarm at the same paths:
the Hub's server exports them, or every node mounts them, as jhgpu/shared_storage.py decides. A
single server keeps them on its own disk and skips this step.

Operations run in the order they are written here, each on every host before the next, so the
Hub's server exports before the workers mount.
"""

import shlex
from io import StringIO

from pyinfra import host, logger
from pyinfra.operations import files, server, systemd

from jhgpu import fleet
from jhgpu.facts.server import MountOptions, MountSources
from jhgpu.operations.apt import apt_install
from jhgpu.shared_storage import (DOCKER_DROPIN, EXPORTS_FILE, SAFE_OPTIONS, Node, docker_waits_for_mounts,
                                  mounts_to_make, mounts_without_safe_options, storage_plan)
from jhgpu.swarm import SINGLE


role = fleet.role(host)
if role != SINGLE:
    hub = fleet.hub_host(host)
    plan = storage_plan(host.name, host.data, role, Node(hub.name, fleet.advertise_address(hub)),
                        [Node(worker.name, fleet.advertise_address(worker)) for worker in fleet.worker_hosts(host)],
                        manager_data=hub.data)
    mounted = host.get_fact(MountSources, paths=plan.checked_paths) if plan.checked_paths else {}
    to_mount = mounts_to_make(host.name, plan, mounted)  # refuses, before any change, what is mounted wrong
    to_remount, unsafe = mounts_without_safe_options(
        plan, host.get_fact(MountOptions, paths=plan.checked_paths) if plan.checked_paths else {})
    for warning in unsafe:
        host.log(f"Warning: {warning}", logger.warning)

    if plan.packages:
        apt_install(name="Install the NFS packages", packages=list(plan.packages))

    if plan.exports is not None:
        for path in plan.exported:
            # tasks/folders.py gives them their owners and modes; an export needs them to exist.
            files.directory(name=f"Create {path}", path=path)
        exports = files.put(name=f"Export the shared folders to the workers ({EXPORTS_FILE})",
                            src=StringIO(plan.exports), dest=EXPORTS_FILE, user="root", group="root", mode="644")
        systemd.service(name="Run the NFS server now and at boot", service="nfs-server", running=True,
                        enabled=True)
        server.shell(name="Apply the changed NFS exports", commands=["exportfs -ra"], _if=exports.did_change)

    fstab_lines = []
    for mount in plan.mounts:
        files.directory(name=f"Create the mount point {mount.path}", path=mount.path)
        # Replaces any active entry at this mount point, the admin's too; commented-out lines stay.
        fstab_lines.append(files.line(
            name=f"Mount {mount.source} at {mount.path} at boot (/etc/fstab)", path="/etc/fstab",
            line=mount.fstab_pattern, replace=mount.fstab_line, extended_regex=True, ensure_newline=True))
    if plan.mounts:
        files.directory(name="Create docker.service's drop-in folder", path=DOCKER_DROPIN.rsplit("/", 1)[0])
        dropin = files.put(name="Start Docker only once the shared folders are mounted",
                           src=StringIO(docker_waits_for_mounts(plan)), dest=DOCKER_DROPIN, mode="644")
        # systemd makes its mount units from /etc/fstab, and mount(8) warns while they are stale.
        server.shell(name="Reload systemd's units for the changed /etc/fstab", commands=["systemctl daemon-reload"],
                     _if=lambda: dropin.did_change() or any(line.did_change() for line in fstab_lines))
    for mount in to_mount:
        server.shell(name=f"Mount {mount.source} at {mount.path}", commands=[f"mount {shlex.quote(mount.path)}"])
    for mount in to_remount:  # mounted by an older deploy: live, so users' servers keep their files
        server.shell(name=f"Remount {mount.path} {','.join(SAFE_OPTIONS)}",
                     commands=[f"mount -o remount,{','.join(SAFE_OPTIONS)} {shlex.quote(mount.path)}"])
