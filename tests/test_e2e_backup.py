"""Backups of the Hub's server, end to end: two users write files through their own servers (alice
in her team's folder too); restic from Debian's archive backs the server up over SFTP to a second
test-bed host, on the timer's own service; a second run adds little (restic deduplicates: both
runs' figures are printed), and a third succeeds while the Hub's database is being written; the
snapshot holds a user's files, a team folder and a consistent copy of the Hub's database that
passes SQLite's integrity check; the repository checks; a backup that cannot reach its target
leaves its service failed, where `systemctl --failed` shows it, and admins (only they) read it on
the Hub's pages until a backup succeeds. Last, the drill: the server is destroyed, a fresh one
deployed with the same settings and restore_from_backup, and both users log in there with their
old passwords, start their servers and read their files, owners and modes as before."""

from __future__ import annotations

import re
import secrets
import subprocess
import time

import pytest

from conftest import DeployedHub
from hub_browser import log_in, read_file, start_server, write_file
from testbed import testbed

pytestmark = pytest.mark.e2e

NOTES = "/home/jh_users/alice/notes.txt"
BOB_NOTES = "/home/jh_users/bob/notes.txt"
TEAM_FILE = "/home/jh_teams/vision/plan.txt"
PASSWORDS = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12), "admin": secrets.token_urlsafe(12)}
# What each user writes through their server: {user: {path in their home: text}}. ~/work is their
# folder in users_home_root, ~/teams/vision the team's folder, the rest of the home their volume.
WRITTEN = {"alice": {"work/notes.txt": "alice was here\n", "teams/vision/plan.txt": "the team plan\n",
                     "home-note.txt": "in the rest of my home\n"},
           "bob": {"work/notes.txt": "bob too\n"}}
FAILED_LINE = "The server's last backup failed"
NOTEBOOK = {**testbed.FIXTURE_CHAIN[1], "display_name": "Python"}  # base-notebook, the one image offered


def added(journal: str) -> list[str]:
    """restic's "Added to the repository: 1.234 MiB (...)" figures, oldest first."""
    return re.findall(r"Added to the repository: ([0-9.]+ [KMG]?i?B)", journal)


def to_bytes(figure: str) -> float:
    number, unit = figure.split()
    return float(number) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]


@pytest.fixture(scope="module")
def hub(fresh_host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("backup")
    target = testbed.start_host(publish=())
    try:
        # The backup host: an account that owns the repository's folder, logging in by key only.
        key = tmp / "backup-key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        target.ssh("useradd -m hubbackup && install -d -o hubbackup -g hubbackup -m 700 /srv/restic /home/hubbackup/.ssh")
        testbed.docker("cp", f"{key}.pub", f"{target.name}:/home/hubbackup/.ssh/authorized_keys")
        target.ssh("chown hubbackup:hubbackup /home/hubbackup/.ssh/authorized_keys && chmod 600 /home/hubbackup/.ssh/authorized_keys")
        address = testbed.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", target.name).stdout.strip()
        host_key = target.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
        (tmp / "known_hosts").write_text(f"{address} {' '.join(host_key)}\n")  # as `ssh-keyscan`, checked by hand
        (tmp / "password").write_text("a-long-repository-password-for-the-test\n")
        settings = testbed.testbed_settings(tmp)
        hub = DeployedHub(fresh_host, tmp, {
            # The fixture chain's first two images: the least that runs a real Jupyter server.
            **settings, "gpu_enabled": False, "notebook_images": [*testbed.FIXTURE_CHAIN[:1], NOTEBOOK],
            "hub_users": ["alice", "bob"], "hub_passwords": PASSWORDS, "hub_groups": {"vision": ["alice"]},
            "team_folders": ["vision"],
            "backup_repository": f"sftp:hubbackup@{address}:/srv/restic/hub", "backup_password_file": str(tmp / "password"),
            "backup_ssh_key_file": str(key), "backup_ssh_known_hosts_file": str(tmp / "known_hosts")})
        hub.first_run = hub.deploy()
        assert hub.first_run.returncode == 0, hub.first_run.output[-6000:]
        hub.target = target
        yield hub
    finally:
        target.remove()


ALICE_VOLUME = "/var/lib/docker/volumes/jupyterhub-home-alice/_data"  # the rest of her home
OWNED = (f"stat -c '%n %u:%g %a' {NOTES} {BOB_NOTES} {TEAM_FILE} /home/jh_teams/vision /home/jh_users/alice "
         f"{ALICE_VOLUME} {ALICE_VOLUME}/home-note.txt")


def back_up(hub) -> str:
    """Run the timer's service now; its journal lines."""
    hub.host.ssh("journalctl --rotate >/dev/null 2>&1; systemctl start jupyterhub-backup.service", check=False)
    return hub.host.ssh("journalctl -u jupyterhub-backup.service --no-pager -o cat").stdout


def test_users_write_files_through_their_servers(hub, browser):
    for user, written in WRITTEN.items():
        page = log_in(browser, hub, user, PASSWORDS[user])
        start_server(page, hub, user, None)  # the one image offered
        for path, text in written.items():
            assert write_file(page, user, path, text)["status"] in (200, 201), path
        page.context.close()
    hub.host.ssh(f"chmod 640 {BOB_NOTES}")  # a mode of its own, to be restored as it is
    assert hub.host.ssh(f"cat {NOTES} {TEAM_FILE}").stdout == "alice was here\nthe team plan\n"


def test_the_timers_are_set_and_nothing_is_backed_up_by_the_deploy_itself(hub):
    timers = hub.host.ssh("systemctl list-timers --all --no-pager").stdout
    assert "jupyterhub-backup.timer" in timers and "jupyterhub-backup-check.timer" in timers
    assert hub.target.ssh("ls -A /srv/restic").stdout.strip() == ""


def test_a_backup_over_sftp_then_a_second_that_adds_little(hub):
    first = back_up(hub)
    assert hub.host.ssh("systemctl is-failed jupyterhub-backup.service", check=False).stdout.strip() != "failed", first
    second = back_up(hub)
    figures = added(second)
    print(f"restic, added to the repository: first backup {figures[0]}, second {figures[-1]}")
    assert len(figures) >= 2 and to_bytes(figures[-1]) < to_bytes(figures[0]) / 10, figures
    # A third while the Hub's database is being written, as a busy Hub writes it (the snapshot's
    # copy is checked in the next test).
    hub.host.ssh("(setsid python3 -c \"import sqlite3, time\nfor n in range(4000):\n"
                 "    db = sqlite3.connect('/home/jupyterhub/JupyterHubGPU/data/jupyterhub.sqlite', timeout=30)\n"
                 "    db.execute('update users set last_activity = CURRENT_TIMESTAMP where name = ?', ('alice',))\n"
                 "    db.commit(); db.close(); time.sleep(0.005)\" > /tmp/writer.log 2>&1 < /dev/null &)")
    during = back_up(hub)
    assert "Traceback" not in hub.host.ssh("cat /tmp/writer.log").stdout  # the writer was never locked out
    assert hub.host.ssh("systemctl is-failed jupyterhub-backup.service", check=False).stdout.strip() != "failed", during


def test_the_snapshot_holds_files_team_folders_and_a_sound_database(hub):
    listing = hub.host.ssh("jupyterhub-backup restic ls latest").stdout
    for path in (NOTES, TEAM_FILE, "/var/lib/jupytergpu-backup/jupyterhub.sqlite",
                 "/home/jupyterhub/JupyterHubGPU/data/declared-accounts.json"):
        assert path in listing, path
    assert "/home/jupyterhub/JupyterHubGPU/data/jupyterhub.sqlite\n" not in listing  # the live file is not copied
    hub.host.ssh("rm -rf /tmp/restored && jupyterhub-backup restic restore latest --target /tmp/restored"
                 " --include /var/lib/jupytergpu-backup")
    checked = hub.host.ssh("python3 -c \"import sqlite3; db = sqlite3.connect('/tmp/restored/var/lib/jupytergpu-backup/"
                           "jupyterhub.sqlite'); print(db.execute('pragma integrity_check').fetchone()[0],"
                           " sorted(name for (name,) in db.execute('select name from users')))\"").stdout
    assert checked.strip() == "ok ['admin', 'alice', 'bob']", checked
    assert hub.host.ssh("systemctl start jupyterhub-backup-check.service", check=False).returncode == 0


def test_a_failed_backup_is_visible_to_admins_until_one_succeeds(hub, browser):
    admin = log_in(browser, hub, "admin", PASSWORDS["admin"])
    bob = log_in(browser, hub, "bob", PASSWORDS["bob"])
    assert FAILED_LINE not in admin.inner_text("body")  # every backup so far succeeded
    # The backup host's sshd stops (through Docker: the test reaches that host over SSH too).
    testbed.docker("exec", hub.target.name, "systemctl", "stop", "ssh.socket", "ssh.service", check=False)
    try:
        back_up(hub)
        assert hub.host.ssh("systemctl is-failed jupyterhub-backup.service", check=False).stdout.strip() == "failed"
        assert "jupyterhub-backup.service" in hub.host.ssh("systemctl --failed --no-pager").stdout
        for path in ("/hub/home", "/hub/admin"):  # the admin's pages say so, with what to run
            admin.goto(hub.url(path))
            text = admin.inner_text("body")
            assert FAILED_LINE in text and "journalctl -u jupyterhub-backup" in text, (path, text[:2000])
        bob.goto(hub.url("/hub/home"))
        assert FAILED_LINE not in bob.inner_text("body")  # not a user's business
    finally:
        testbed.docker("exec", hub.target.name, "systemctl", "start", "ssh.service", check=False)
    back_up(hub)
    admin.goto(hub.url("/hub/home"))
    assert FAILED_LINE not in admin.inner_text("body")  # a backup succeeded: nothing to tell


def test_a_storage_limit_where_the_homes_filesystem_has_no_project_quotas_is_refused(hub):
    """The test bed's homes are on the container's overlay (and its kernel has no quota support
    at all): user_storage_quota stops the deploy before any change, naming the filesystem."""
    run = DeployedHub(hub.host, hub.tmp, {**hub.settings, "user_storage_quota": "10G"}).deploy()
    assert run.returncode != 0 and run.changed_operations() == [], run.output[-3000:]
    assert "setting 'user_storage_quota' needs users_home_root (/home/jh_users) on XFS or ext4 with project quotas" \
        in run.output or "setting 'user_storage_quota' needs project quotas on" in run.output, run.output[-3000:]


def test_a_rerun_changes_nothing(hub):
    run = hub.deploy()
    assert run.returncode == 0 and run.changed_operations() == [], run.output[-4000:]


def test_the_restore_drill_a_new_server_takes_over(hub, browser):
    owned = hub.host.ssh(OWNED).stdout
    back_up(hub)  # the latest state
    hub.host.remove()  # the server dies
    new = testbed.start_host()
    try:
        replacement = DeployedHub(new, hub.tmp, {**hub.settings, "restore_from_backup": True})
        began = time.monotonic()
        run = replacement.deploy()
        assert run.returncode == 0, run.output[-6000:]
        print(f"the new server deployed and restored in {time.monotonic() - began:.0f} s")
        assert any(name.startswith("Restore the latest backup") for name in run.changed_operations())
        assert new.ssh(OWNED).stdout == owned
        checked = new.ssh("python3 -c \"import sqlite3; print(sqlite3.connect('/home/jupyterhub/JupyterHubGPU/data/"
                          "jupyterhub.sqlite').execute('pragma integrity_check').fetchone()[0])\"").stdout
        assert checked.strip() == "ok"
        for user, written in WRITTEN.items():  # their old passwords, from the restored database
            page = log_in(browser, replacement, user, PASSWORDS[user])
            try:
                start_server(page, replacement, user, None)
            except Exception:
                print(f"{user}'s start failed; the page said:\n{page.inner_text('body')[:1500]}\nthe Hub's log:\n"
                      + new.ssh("docker logs --tail 80 jupyterhub-hub 2>&1", check=False).stdout)
                raise
            for path, text in written.items():
                assert read_file(page, user, path) == text, (user, path)
            page.context.close()
        log_in(browser, replacement, "admin", PASSWORDS["admin"])
        rerun = replacement.deploy()  # restored once: never again over the database it now has
        assert rerun.returncode == 0 and rerun.changed_operations() == [], rerun.output[-4000:]
    finally:
        new.remove()
