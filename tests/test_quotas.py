"""Storage limits per user (jhgpu/quotas.py, tasks/quotas.py): which filesystems can hold them,
and what the deploy runs on one that can, with recorded facts. This machine's kernel has no quota
support (CONFIG_QUOTA), so project quotas cannot be enforced on a test-bed host; the preflight's
refusal of a host without them runs live in tests/test_e2e_backup.py. The script's own logic
(project names and ids, the home volume joining its user's project) runs here on this machine's
folders, with the quota tools replaced by stand-ins that record their calls."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

import pytest

from jhgpu.facts.server import FilesystemOf
from jhgpu.hub import render
from jhgpu.quotas import quota_plan, quota_problems, unit_files
from recorded import run_deploy
from recorded_hosts import fresh_host
from test_hub import settings

XFS = {"type": "xfs", "options": ["rw", "relatime", "attr2", "inode64", "prjquota"], "mountpoint": "/home"}
EXT4 = {"type": "ext4", "options": ["rw", "relatime", "prjquota"], "mountpoint": "/srv"}


def test_the_fact_reads_findmnts_answer():
    assert FilesystemOf().process(["xfs    rw,relatime,prjquota /home"]) == {
        "type": "xfs", "options": ["rw", "relatime", "prjquota"], "mountpoint": "/home"}
    assert "while [ ! -e \"$p\" ]" in FilesystemOf().command("/home/jh_users")  # before the folder exists


@pytest.mark.parametrize("filesystem, said", [
    ({"type": "overlay", "options": ["rw"], "mountpoint": "/"},
     "needs users_home_root (/home/jh_users) on XFS or ext4 with project quotas, but on host 'gpu01' it is on overlay (/)"),
    ({"type": "xfs", "options": ["rw", "relatime"], "mountpoint": "/home"},
     "needs project quotas on /home (xfs) on host 'gpu01': it is mounted rw,relatime; it needs the prjquota mount option"),
    ({"type": "ext4", "options": ["rw"], "mountpoint": "/srv"}, "it needs mkfs.ext4 -O quota,project"),
])
def test_a_filesystem_without_project_quotas_is_refused_naming_what_it_needs(filesystem, said):
    [problem] = quota_problems("gpu01", "50G", filesystem, "/home/jh_users")
    assert problem.startswith("setting 'user_storage_quota'") and said in problem
    assert quota_problems("gpu01", None, filesystem, "/home/jh_users") == []
    assert quota_problems("gpu01", "50G", XFS, "/home/jh_users") == [] == quota_problems("gpu01", "50G", EXT4, "/srv/h")


@pytest.mark.parametrize("filesystem, applies", [
    (XFS, 'xfs_quota -x -c "limit -p bhard=52428800k $id" /home'),
    (EXT4, "setquota -P \"$id\" 0 52428800 0 0 /srv"),
])
def test_each_users_folder_becomes_a_project_with_the_limit(filesystem, applies):
    plan = quota_plan(settings(user_storage_quota="50G"), filesystem)
    script = render("jupyterhub-quotas.sh.j2", {"plan": plan})
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert applies in script and "for home in /home/jh_users/*/; do" in script
    assert "PathChanged=/home/jh_users" in unit_files(plan)["jupyterhub-quotas.path"]
    assert quota_plan(settings(), filesystem) is None


def test_the_deploy_installs_the_tools_and_applies_the_limits_on_xfs():
    host = {**fresh_host("debian", "12"), "jhgpu.facts.server.FilesystemOf": lambda path: XFS}
    commands = run_deploy(host, gpu_enabled=False, user_storage_quota="50G")
    assert any("apt-get" in command and "xfsprogs" in command for command in commands)
    assert "PUT /usr/local/sbin/jupyterhub-quotas" in commands
    assert "/usr/local/sbin/jupyterhub-quotas" in commands
    assert any("systemctl start jupyterhub-quotas.path" in command for command in commands)
    assert "/usr/local/sbin/jupyterhub-quotas" not in run_deploy(fresh_host("debian", "12"), gpu_enabled=False)


def test_a_host_without_project_quotas_is_refused_before_any_change():
    from jhgpu.settings import SettingsError

    host = {**fresh_host("debian", "12"),
            "jhgpu.facts.server.FilesystemOf": lambda path: {"type": "ext4", "options": ["rw"], "mountpoint": "/"}}
    with pytest.raises(SettingsError, match="setting 'user_storage_quota' needs project quotas on / \\(ext4\\)"):
        run_deploy(host, gpu_enabled=False, user_storage_quota="50G")


STAND_INS = {
    # xfs_io -c lsproj PATH, and xfs_quota -x -c "project -s -p PATH ID" / "limit -p bhard=NK ID": the
    # project each tree is in is kept in $STATE/<tree's name>, each command called in $STATE/calls.
    "xfs_io": 'echo "xfs_io $*" >> "$STATE/calls"; cat "$STATE/$(basename "$3")" 2>/dev/null || echo "projid = 0"\n',
    "xfs_quota": ('echo "xfs_quota $*" >> "$STATE/calls"\n'
                  'set -- $3; [ "$1" = project ] && echo "projid = $5" > "$STATE/$(basename "$4")"; exit 0\n'),
    # docker volume inspect -f ... NAME: alice's home volume is a folder beside the homes, bob has none.
    "docker": 'case "$5" in *-home-alice) echo "$VOLUMES/jupyterhub-home-alice/_data" ;; *) exit 1 ;; esac\n',
}


def run_quota_script(tmp_path, homes: list[str]) -> tuple[str, list[str]]:
    """The rendered script, run here on folders of this machine with the XFS quota tools replaced
    by stand-ins that record their calls (this kernel has no quota support: the tools' effect is
    what tests/test_e2e_* cannot show). Returns the projid file and the calls."""
    root, tools, state = tmp_path / "homes", tmp_path / "tools", tmp_path / "state"
    for folder in (tools, state, tmp_path / "volumes" / "jupyterhub-home-alice" / "_data"):
        folder.mkdir(parents=True, exist_ok=True)
    for home in homes:
        (root / home).mkdir(parents=True, exist_ok=True)
    for name, body in STAND_INS.items():
        (tools / name).write_text("#!/bin/sh\n" + body)
        (tools / name).chmod(0o755)
    plan = replace(quota_plan(settings(user_storage_quota="2G", users_home_root=str(root)), XFS),
                   projid_file=str(tmp_path / "projid"), lock_file=str(tmp_path / "lock"))
    script = tmp_path / "jupyterhub-quotas"
    script.write_text(render("jupyterhub-quotas.sh.j2", {"plan": plan}))
    (state / "calls").write_text("")
    subprocess.run(["sh", str(script)], check=True, env={
        **os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "STATE": str(state), "VOLUMES": str(tmp_path / "volumes")})
    return (tmp_path / "projid").read_text(), (state / "calls").read_text().splitlines()


def test_each_user_gets_a_named_project_id_of_their_own_kept_across_runs(tmp_path):
    (tmp_path / "projid").write_text("scratch:100004\n")  # a site's own project keeps its id
    projid, calls = run_quota_script(tmp_path, ["alice", "bob", "lost+found"])
    assert projid == "scratch:100004\njupyterhub-alice:100005\njupyterhub-bob:100006\n"
    homes, volume = tmp_path / "homes", tmp_path / "volumes" / "jupyterhub-home-alice" / "_data"
    assert f'xfs_quota -x -c project -s -p {homes}/alice 100005 /home' in calls
    # alice's home volume is on the same filesystem here: the same project, so one limit for her whole home
    assert f'xfs_quota -x -c project -s -p {volume} 100005 /home' in calls
    assert 'xfs_quota -x -c limit -p bhard=2097152k 100006 /home' in calls
    # A new user later: a new id; the others keep theirs and their trees are not marked again.
    projid, calls = run_quota_script(tmp_path, ["alice", "bob", "carol"])
    assert projid.splitlines()[1:] == ["jupyterhub-alice:100005", "jupyterhub-bob:100006", "jupyterhub-carol:100007"]
    assert [call for call in calls if "project -s" in call] == [
        f'xfs_quota -x -c project -s -p {homes}/carol 100007 /home']
