"""Users' homes and the shared data folder on every node of a Swarm (jhgpu/shared_storage.py and
tasks/shared_storage.py): what each node exports, installs and mounts, for each shared_storage.

The task runs through pyinfra with recorded facts for three hosts (the Hub's server and two
workers, addresses 10.0.0.1 to 10.0.0.3). The facts are constructed, not captured from a lab's
servers: the MountSources answers are in the shape findmnt prints (an NFS mount's source as
"server:/export"), the rest as tests/recorded_hosts.py's fresh hosts. The /etc/fstab patterns
are run through the real `grep -E`. What recorded facts cannot prove: that the NFS server
exports and the kernel mounts what these files say, that a worker's root passes users_home_root
(mode 0700) through the export with no_root_squash, or that Docker on a worker reaches users' folders through the export.
"""

from __future__ import annotations

import hashlib
import subprocess
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api.host import Host

from jhgpu.shared_storage import (DOCKER_DROPIN, EXPORTS_FILE, MANAGER, SINGLE, WORKER, Mount, Node,
                                  SharedStorageError, docker_waits_for_mounts, mounts_to_make,
                                  mounts_without_safe_options, storage_plan)
from recorded import HOST, default_settings, run_deploy
from recorded_hosts import SYSTEM_DIR, fresh_host

HUB, GPU02, GPU03 = "@fake/gpu01", "@fake/gpu02", "@fake/gpu03"
ADDRESSES = {HUB: "10.0.0.1", GPU02: "10.0.0.2", GPU03: "10.0.0.3", HOST: "10.0.0.9"}
TASK = "tasks/shared_storage.py"
MOUNTS = "jhgpu.facts.server.MountSources"
EXPORT_OPTIONS = "rw,sync,no_subtree_check,no_root_squash"


def settings(**overrides) -> SimpleNamespace:
    return SimpleNamespace(**{**default_settings(), **overrides})


def grep(text: str, pattern: str) -> list[str]:
    """What `grep -E pattern` finds in `text`, as the FindInFile fact would."""
    found = subprocess.run(["grep", "-E", "-e", pattern], input=text, capture_output=True, text=True)
    return found.stdout.splitlines()


# --- The plan, from settings and addresses --------------------------------------------------------

MANAGER_NODE = Node("gpu01", "10.0.0.1")
WORKERS = [Node("gpu02", "10.0.0.2"), Node("gpu03", "10.0.0.3")]


def test_the_hubs_server_exports_both_folders_to_each_worker():
    plan = storage_plan("gpu01", settings(), MANAGER, MANAGER_NODE, WORKERS)
    assert plan.packages == ("nfs-kernel-server",)
    assert plan.exports.splitlines()[1:] == [
        f"/home/jh_users 10.0.0.2({EXPORT_OPTIONS}) 10.0.0.3({EXPORT_OPTIONS})",
        f"/mnt/shared 10.0.0.2({EXPORT_OPTIONS}) 10.0.0.3({EXPORT_OPTIONS})"]
    assert plan.exports.splitlines()[0].startswith("#") and plan.mounts == ()


def test_workers_mount_both_folders_from_the_hubs_server():
    plan = storage_plan("gpu02", settings(), WORKER, MANAGER_NODE, WORKERS)
    assert plan.packages == ("nfs-common",) and plan.exports is None
    assert [mount.fstab_line for mount in plan.mounts] == [
        "10.0.0.1:/home/jh_users /home/jh_users nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0",
        "10.0.0.1:/mnt/shared /mnt/shared nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0"]


def test_with_team_folders_their_root_is_exported_and_mounted_too():
    teams = settings(team_folders=["vision"])
    exports = storage_plan("gpu01", teams, MANAGER, MANAGER_NODE, WORKERS).exports.splitlines()
    assert exports[3] == f"/home/jh_teams 10.0.0.2({EXPORT_OPTIONS}) 10.0.0.3({EXPORT_OPTIONS})"
    plan = storage_plan("gpu02", teams, WORKER, MANAGER_NODE, WORKERS)
    assert plan.mounts[2].fstab_line == "10.0.0.1:/home/jh_teams /home/jh_teams nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0"
    assert storage_plan("gpu02", teams, WORKER, MANAGER_NODE, WORKERS, manager_data=teams).mounts == plan.mounts
    mounted = storage_plan("gpu02", settings(team_folders=["vision"], shared_storage="mounted"), WORKER, MANAGER_NODE,
                           WORKERS)
    assert mounted.mount_points[2] == ("team_folders_root", "/home/jh_teams")
    with pytest.raises(SharedStorageError, match="needs setting 'nfs_teams_export' with shared_storage = 'external-nfs'"):
        storage_plan("gpu02", settings(team_folders=["vision"], shared_storage="external-nfs", nfs_server="nas",
                                       nfs_homes_export="/h", nfs_shared_export="/s"), WORKER, MANAGER_NODE, WORKERS)
    with pytest.raises(SharedStorageError, match="has team_folders_root = '/srv/teams' but the Hub's server 'gpu01' has"):
        storage_plan("gpu02", settings(team_folders_root="/srv/teams"), WORKER, MANAGER_NODE, WORKERS, manager_data=teams)


def test_an_ipv6_server_is_written_in_brackets():
    plan = storage_plan("gpu02", settings(), WORKER, Node("gpu01", "fd00::1"), WORKERS)
    assert plan.mounts[0].source == "[fd00::1]:/home/jh_users"


def test_external_nfs_is_mounted_on_every_node_the_hubs_server_included():
    external = settings(shared_storage="external-nfs", nfs_server="nas.example.org",
                        nfs_homes_export="/export/homes/", nfs_shared_export="/export/datasets")
    for name, role in (("gpu01", MANAGER), ("gpu02", WORKER)):
        plan = storage_plan(name, external, role, MANAGER_NODE, WORKERS)
        assert plan.packages == ("nfs-common",) and plan.exports is None
        assert [mount.fstab_line for mount in plan.mounts] == [
            "nas.example.org:/export/homes /home/jh_users nfs rw,nosuid,nodev,hard,_netdev 0 0",
            "nas.example.org:/export/datasets /mnt/shared nfs rw,nosuid,nodev,hard,_netdev 0 0"]


def test_mounted_storage_is_only_checked_on_workers():
    mounted = settings(shared_storage="mounted")
    assert storage_plan("gpu01", mounted, MANAGER, MANAGER_NODE, WORKERS).checked_paths == []
    plan = storage_plan("gpu02", mounted, WORKER, MANAGER_NODE, WORKERS)
    assert plan.packages == () and plan.mounts == ()
    assert plan.checked_paths == ["/home/jh_users", "/mnt/shared"]


@pytest.mark.parametrize("storage", ["nfs", "external-nfs", "mounted"])
def test_a_single_server_needs_nothing(storage):
    plan = storage_plan("gpu01", settings(shared_storage=storage), SINGLE, Node("gpu01", None), [])
    assert (plan.packages, plan.exports, plan.mounts, plan.checked_paths) == ((), None, (), [])


@pytest.mark.parametrize("host_name, role, manager, workers, message", [
    ("gpu01", MANAGER, MANAGER_NODE, [Node("gpu02", None)],
     "host 'gpu02' has no address for the NFS exports of the Hub's server 'gpu01' (shared_storage = 'nfs'): "
     "set swarm_advertise_address"),
    ("gpu02", WORKER, Node("gpu01", None), WORKERS,
     "host 'gpu01' has no address for host 'gpu02' to mount the shared folders from"),
])
def test_a_node_without_an_address_is_named(host_name, role, manager, workers, message):
    with pytest.raises(SharedStorageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        storage_plan(host_name, settings(), role, manager, workers)


def test_external_nfs_without_its_server_names_each_missing_setting():
    with pytest.raises(SharedStorageError) as error:
        storage_plan("gpu02", settings(shared_storage="external-nfs", nfs_server="nas"), WORKER, MANAGER_NODE, WORKERS)
    assert "host 'gpu02' needs setting 'nfs_homes_export' with shared_storage = 'external-nfs'" in str(error.value)
    assert "'nfs_shared_export'" in str(error.value) and "'nfs_server'" not in str(error.value)


def test_folders_at_other_paths_than_the_hubs_are_refused():
    with pytest.raises(SharedStorageError) as error:
        storage_plan("gpu02", settings(shared_data_dir="/mnt/datasets"), WORKER, MANAGER_NODE, WORKERS,
                     manager_data=settings())
    assert ("host 'gpu02' has shared_data_dir = '/mnt/datasets' but the Hub's server 'gpu01' has '/mnt/shared'"
            in str(error.value))
    assert "users_home_root" not in str(error.value)


def test_only_what_is_not_mounted_is_mounted_and_a_trailing_slash_is_the_same_export():
    plan = storage_plan("gpu02", settings(), WORKER, MANAGER_NODE, WORKERS)
    assert mounts_to_make("gpu02", plan, {"/home/jh_users": None, "/mnt/shared": None}) == list(plan.mounts)
    assert mounts_to_make("gpu02", plan, {"/home/jh_users": "10.0.0.1:/home/jh_users/",
                                          "/mnt/shared": None}) == [plan.mounts[1]]


def test_a_folder_mounted_from_elsewhere_is_refused_not_remounted():
    plan = storage_plan("gpu02", settings(), WORKER, MANAGER_NODE, WORKERS)
    with pytest.raises(SharedStorageError) as error:
        mounts_to_make("gpu02", plan, {"/home/jh_users": "/dev/sdb1", "/mnt/shared": "10.0.0.1:/mnt/shared"})
    assert "host 'gpu02' cannot" in str(error.value)
    assert ("users_home_root /home/jh_users has /dev/sdb1 mounted, not 10.0.0.1:/home/jh_users "
            "(shared_storage = 'nfs')") in str(error.value)
    assert "/mnt/shared" not in str(error.value)


def test_the_fstab_pattern_finds_the_entry_at_the_mount_point_only():
    fstab = ("UUID=1234 / ext4 defaults 0 1\n"
             "#10.0.0.7:/home/jh_users /home/jh_users nfs defaults 0 0\n"
             "10.0.0.7:/home/jh_users /home/jh_users/ nfs defaults 0 0\n"
             "10.0.0.7:/x /home/jh_users2 nfs defaults 0 0\n"
             "10.0.0.7:/y /mnt/shared\tnfs defaults 0 0\n")
    homes = Mount("users_home_root", "/home/jh_users", "10.0.0.1:/home/jh_users", "rw")
    shared = Mount("shared_data_dir", "/mnt/shared", "10.0.0.1:/mnt/shared", "rw")
    assert grep(fstab, homes.fstab_pattern) == ["10.0.0.7:/home/jh_users /home/jh_users/ nfs defaults 0 0"]
    assert grep(fstab, shared.fstab_pattern) == ["10.0.0.7:/y /mnt/shared\tnfs defaults 0 0"]
    dotted = Mount("shared_data_dir", "/mnt/a.b", "s", "rw")
    assert grep("s /mnt/aXb nfs rw 0 0\ns /mnt/a.b nfs rw 0 0\n", dotted.fstab_pattern) == ["s /mnt/a.b nfs rw 0 0"]


# --- The task, with recorded facts ----------------------------------------------------------------

SWARM = {"hub_server": [HUB], "gpu_workers": [HOST, GPU03]}
HUB_IS_RECORDED = {"hub_server": [HOST], "gpu_workers": [GPU02, GPU03]}
_asking: list[str] = []  # the host whose fact is being read, innermost last


@contextmanager
def facts_per_host():
    """Lets a recorded fact tell hosts apart (recorded.py answers every host alike): while a host
    reads a fact, its name is last in `_asking`."""
    original = Host.get_fact

    def get_fact(self, cls, *args, **kwargs):
        _asking.append(self.name)
        try:
            return original(self, cls, *args, **kwargs)
        finally:
            _asking.pop()

    with mock.patch.object(Host, "get_fact", get_fact):
        yield


def swarm_host(mounted: dict[str, str] | None = None, fstab: str | None = None, exports: str | None = None,
               installed: bool = False, dropin: str | None = None, options: str = "rw,nosuid,nodev,relatime") -> dict:
    """A fresh Ubuntu 24.04 host in a Swarm. `mounted`: MountSources' answers (`options`: what
    each is mounted with); `fstab`:
    /etc/fstab's text; `exports`: EXPORTS_FILE's text; `installed`: NFS packages in, nfs-server
    running; `dropin`: docker.service's drop-in's text."""
    facts = fresh_host("ubuntu", "24.04")
    dirs = {"/home", "/mnt", "/etc/apt/keyrings"}
    if installed:
        facts["deb.DebPackages"] = {**facts["deb.DebPackages"], "nfs-common": {"1:2.6.4-3ubuntu5.1"},
                                    "nfs-kernel-server": {"1:2.6.4-3ubuntu5.1"}}
        facts["systemd.SystemdStatus"] = facts["systemd.SystemdEnabled"] = {"nfs-server.service": True}
        dirs |= {"/home/jh_users", "/mnt/shared", "/etc/exports.d"}
    facts["files.Directory"] = lambda path: SYSTEM_DIR if path in dirs else None
    facts["jhgpu.facts.server.DefaultAddress"] = lambda: ADDRESSES[_asking[-1]]
    facts[MOUNTS] = lambda paths: {path: (mounted or {}).get(path) for path in paths}
    facts["jhgpu.facts.server.MountOptions"] = lambda paths: {
        path: options.split(",") if (mounted or {}).get(path) else None for path in paths}
    facts["files.FindInFile"] = lambda path, pattern, **_: (grep(fstab, pattern) if path == "/etc/fstab"
                                                            and fstab is not None else None)
    written = {path: text for path, text in ((EXPORTS_FILE, exports), (DOCKER_DROPIN, dropin)) if text is not None}
    if dropin is not None:
        dirs.add(DOCKER_DROPIN.rsplit("/", 1)[0])
    facts["files.File"] = lambda path: {**SYSTEM_DIR, "mode": 644} if path in written else None
    facts["files.Sha1File"] = lambda path: hashlib.sha1(written[path].encode()).hexdigest() if path in written else None
    return facts


def deploy(facts: dict, groups: dict, **settings):
    with facts_per_host():
        return run_deploy(facts, deploy=TASK, groups=groups, **settings)


def hub_exports() -> str:
    return storage_plan(HUB, settings(), MANAGER, Node(HOST, "10.0.0.9"),
                        [Node(GPU02, "10.0.0.2"), Node(GPU03, "10.0.0.3")]).exports


def test_the_hubs_server_exports_to_each_worker_and_reloads_the_exports():
    commands = deploy(swarm_host(), HUB_IS_RECORDED)
    assert any("apt-get" in command and "install" in command and "nfs-kernel-server" in command
               for command in commands)
    assert commands.uploads[EXPORTS_FILE] == hub_exports()
    assert "10.0.0.2(rw,sync,no_subtree_check,no_root_squash) 10.0.0.3(" in commands.uploads[EXPORTS_FILE]
    assert "systemctl start nfs-server.service" in commands and "systemctl enable nfs-server.service" in commands
    assert commands.index(f"PUT {EXPORTS_FILE}") < commands.index("exportfs -ra")
    assert not any("mount" in command for command in commands)


def test_a_rerun_on_the_hubs_server_with_its_exports_in_place_changes_nothing():
    assert deploy(swarm_host(exports=hub_exports(), installed=True), HUB_IS_RECORDED) == []


def test_changed_exports_are_rewritten_and_reloaded():
    commands = deploy(swarm_host(exports="/home/jh_users 10.0.0.2(rw)\n", installed=True), HUB_IS_RECORDED)
    assert f"PUT {EXPORTS_FILE}" in commands and "exportfs -ra" in commands


def test_a_worker_mounts_both_folders_from_the_hubs_server():
    commands = deploy(swarm_host(fstab="UUID=1234 / ext4 defaults 0 1\n"), SWARM)
    assert any("nfs-common" in command and "install" in command for command in commands)
    assert not any("nfs-kernel-server" in command or "exportfs" in command for command in commands)
    for path in ("/home/jh_users", "/mnt/shared"):
        line = f"10.0.0.1:{path} {path} nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0"
        append = next(command for command in commands if line in command and ">> /etc/fstab" in command)
        assert commands.index(f"mkdir -p {path}") < commands.index(append) < commands.index("systemctl daemon-reload")
        assert commands.index("systemctl daemon-reload") < commands.index(f"mount {path}")


def test_a_rerun_on_a_worker_with_both_folders_mounted_changes_nothing():
    fstab = "".join(f"10.0.0.1:{path} {path} nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0\n"
                    for path in ("/home/jh_users", "/mnt/shared"))
    mounted = {"/home/jh_users": "10.0.0.1:/home/jh_users", "/mnt/shared": "10.0.0.1:/mnt/shared"}
    dropin = docker_waits_for_mounts(storage_plan(HOST, settings(), WORKER, MANAGER_NODE, WORKERS))
    assert deploy(swarm_host(mounted, fstab, installed=True, dropin=dropin), SWARM) == []


def test_a_worker_mounted_by_an_older_deploy_gets_nosuid_nodev_without_unmounting():
    """Homes mounted with suid and device files allowed: a setuid-root program a user planted in
    ~/work (or one planted through the export) would run as root on the worker."""
    fstab = "".join(f"10.0.0.1:{path} {path} nfs rw,hard,_netdev,nfsvers=4.2 0 0\n"
                    for path in ("/home/jh_users", "/mnt/shared"))
    mounted = {"/home/jh_users": "10.0.0.1:/home/jh_users", "/mnt/shared": "10.0.0.1:/mnt/shared"}
    dropin = docker_waits_for_mounts(storage_plan(HOST, settings(), WORKER, MANAGER_NODE, WORKERS))
    commands = deploy(swarm_host(mounted, fstab, installed=True, dropin=dropin, options="rw,relatime,vers=4.2"), SWARM)
    for path in ("/home/jh_users", "/mnt/shared"):
        assert any("nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0" in command and "/etc/fstab" in command
                   and path.replace("/", "\\/") in command for command in commands)
        assert f"mount -o remount,nosuid,nodev {path}" in commands
        assert f"umount {path}" not in commands and f"mount {path}" not in commands


def test_an_admins_own_mount_without_nosuid_nodev_is_warned_about_not_changed():
    plan = storage_plan(HOST, settings(shared_storage="mounted"), WORKER, MANAGER_NODE, WORKERS)
    remount, warnings = mounts_without_safe_options(plan, {"/home/jh_users": ["rw", "relatime"],
                                                           "/mnt/shared": ["rw", "nosuid", "nodev"]})
    assert remount == [] and len(warnings) == 1
    assert warnings[0].startswith("users_home_root /home/jh_users is mounted without nosuid,nodev")


def test_docker_on_a_worker_starts_only_once_the_shared_folders_are_mounted():
    commands = deploy(swarm_host(fstab="UUID=1234 / ext4 defaults 0 1\n"), SWARM)
    assert "RequiresMountsFor=/home/jh_users /mnt/shared" in commands.uploads[DOCKER_DROPIN].splitlines()
    assert commands.index(f"PUT {DOCKER_DROPIN}") < commands.index("systemctl daemon-reload")


def test_an_old_fstab_entry_at_the_mount_point_is_replaced():
    fstab = "10.0.0.7:/old /home/jh_users nfs defaults 0 0\n"
    commands = deploy(swarm_host(fstab=fstab, installed=True), SWARM)
    [replaced] = [command for command in commands if "sed" in command and "/etc/fstab" in command]
    assert "10.0.0.1:\\/home\\/jh_users \\/home\\/jh_users nfs rw,nosuid,nodev,hard,_netdev,nfsvers=4.2 0 0" in replaced


def test_a_worker_refuses_a_folder_mounted_from_elsewhere_before_any_change():
    with pytest.raises(SharedStorageError) as error:
        deploy(swarm_host({"/home/jh_users": "/dev/sdb1"}), {"hub_server": [HUB], "gpu_workers": [HOST]})
    assert str(error.value).startswith(f"host '{HOST}' cannot have the shared folders of the other nodes:\n")
    assert ("users_home_root /home/jh_users has /dev/sdb1 mounted, not 10.0.0.1:/home/jh_users (shared_storage = "
            "'nfs'). Unmount it (umount /home/jh_users)") in str(error.value)


def test_external_nfs_mounts_on_the_hubs_server_and_on_workers():
    external = dict(shared_storage="external-nfs", nfs_server="nas.example.org",
                    nfs_homes_export="/export/homes", nfs_shared_export="/export/datasets")
    for groups in (HUB_IS_RECORDED, SWARM):
        commands = deploy(swarm_host(), groups, **external)
        assert "mount /home/jh_users" in commands and "mount /mnt/shared" in commands
        assert any("nas.example.org:/export/homes /home/jh_users nfs rw,nosuid,nodev,hard,_netdev 0 0" in command
                   for command in commands)
        assert not any("exportfs" in command or "nfs-kernel-server" in command for command in commands)


def test_mounted_storage_refuses_a_worker_whose_folder_is_no_mount_point():
    groups = {"hub_server": [HUB], "gpu_workers": [HOST]}
    with pytest.raises(SharedStorageError) as error:
        deploy(swarm_host({"/home/jh_users": "cephfs-homes"}), groups, shared_storage="mounted")
    assert str(error.value).startswith(f"host '{HOST}' cannot")
    assert "shared_data_dir /mnt/shared is not a mount point, and shared_storage = 'mounted'" in str(error.value)
    assert "users_home_root" not in str(error.value)
    mounted = {"/home/jh_users": "cephfs-homes", "/mnt/shared": "cephfs-data"}
    assert deploy(swarm_host(mounted), groups, shared_storage="mounted") == []


@pytest.mark.parametrize("groups", [{}, {"hub_server": [HOST]}])
def test_a_single_server_does_nothing(groups):
    assert deploy(swarm_host(), groups) == []
