"""Backups of the Hub's server (jhgpu/backups.py, tasks/backups.py): what restic backs up, where
and when, the script the timers run, and the settings' checks. The backups themselves run against
a second test-bed host over SFTP in tests/test_e2e_backup.py."""

from __future__ import annotations

import subprocess

import pytest

from jhgpu.backups import backup_plan, keep_arguments, sftp_command, unit_files
from jhgpu.hub import render
from jhgpu.settings import SettingsError, validate
from recorded import default_settings, run_deploy
from recorded_hosts import fresh_host
from test_hub import settings

SFTP = "sftp:backup@10.0.0.5:/srv/restic/gpu01"


def test_no_repository_no_backups():
    assert backup_plan(settings()) is None
    assert not any("restic" in command or "jupyterhub-backup" in command
                   for command in run_deploy(fresh_host("debian", "12"), gpu_enabled=False))


def test_what_is_backed_up_and_what_is_not():
    plan = backup_plan(settings(backup_repository="/mnt/backup/hub", team_folders=["vision"]))
    assert plan.paths == ("/home/jupyterhub/JupyterHubGPU/data", "/home/jupyterhub/JupyterHubGPU/proxy/data",
                          "/var/lib/jupytergpu-backup", "/home/jh_users", "/home/jh_teams")
    # the live database is not copied as a file: its consistent copy is in /var/lib/jupytergpu-backup
    assert "/home/jupyterhub/JupyterHubGPU/data/jupyterhub.sqlite" in plan.excludes
    assert plan.home_volumes == "jupyterhub-home-" and plan.sftp_command is None
    assert plan.secrets == {"backup_password_file": "password"}
    assert "/home/jh_teams" not in backup_plan(settings(backup_repository="/mnt/backup/hub")).paths


def test_sftp_uses_the_deploys_key_and_known_hosts_and_never_asks():
    assert sftp_command(SFTP) == ("ssh -i /etc/jupytergpu/backup/ssh-key -o UserKnownHostsFile=/etc/jupytergpu/backup/"
                                  "known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes backup@10.0.0.5 -s sftp")
    assert backup_plan(settings(backup_repository=SFTP)).secrets == {
        "backup_password_file": "password", "backup_ssh_key_file": "ssh-key", "backup_ssh_known_hosts_file": "known_hosts"}


def test_retention_and_schedules():
    assert keep_arguments({"weekly": 4, "daily": 7}) == ("--keep-daily", "7", "--keep-weekly", "4")
    units = unit_files(backup_plan(settings(backup_repository="/mnt/b", backup_schedule="daily")))
    assert "OnCalendar=daily" in units["jupyterhub-backup.timer"]
    assert "OnCalendar=Sun *-*-* 05:00" in units["jupyterhub-backup-check.timer"]
    assert "ExecStart=/usr/local/sbin/jupyterhub-backup check" in units["jupyterhub-backup-check.service"]
    assert "Persistent=true" in units["jupyterhub-backup.timer"]  # a server that was off catches up


def test_the_script_is_valid_shell_and_passes_no_secret():
    plan = backup_plan(settings(backup_repository=SFTP))
    script = render("jupyterhub-backup.sh.j2", {"plan": plan, "secrets_dir": "/etc/jupytergpu/backup",
                                                "staging": "/var/lib/jupytergpu-backup",
                                                "db": "/home/jupyterhub/JupyterHubGPU/data/jupyterhub.sqlite",
                                                "db_name": "jupyterhub.sqlite"})
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert "export RESTIC_PASSWORD_FILE=/etc/jupytergpu/backup/password" in script
    assert "-o sftp.command='ssh -i /etc/jupytergpu/backup/ssh-key" in script
    assert "restic_ forget --prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6" in script


def test_the_deploy_installs_restic_its_secrets_the_script_and_the_timers(tmp_path):
    password, key, known = (tmp_path / name for name in ("password", "key", "known_hosts"))
    for path in (password, key, known):
        path.write_text("x\n")
    commands = run_deploy(fresh_host("debian", "12"), gpu_enabled=False, backup_repository=SFTP,
                          backup_password_file=str(password), backup_ssh_key_file=str(key),
                          backup_ssh_known_hosts_file=str(known))
    assert any("apt-get" in command and "restic" in command for command in commands)
    for uploaded in ("/etc/jupytergpu/backup/password", "/etc/jupytergpu/backup/ssh-key",
                     "/etc/jupytergpu/backup/known_hosts", "/usr/local/sbin/jupyterhub-backup",
                     "/etc/systemd/system/jupyterhub-backup.timer"):
        assert f"PUT {uploaded}" in commands
    assert any("systemctl start jupyterhub-backup.timer" in command for command in commands)


@pytest.mark.parametrize("bad, message", [
    ({"backup_repository": "/mnt/b"}, "setting 'backup_password_file' is needed with backup_repository = '/mnt/b'"),
    ({"backup_repository": SFTP, "backup_password_file": __file__},
     "setting 'backup_ssh_key_file' is needed with backup_repository"),
    ({"backup_repository": "s3:bucket"}, "setting 'backup_repository' must be a folder (/mnt/backup/hub) or sftp:"),
    ({"backup_keep": {}}, "setting 'backup_keep' must keep some snapshots"),
    ({"backup_keep": {"days": 7}}, "setting 'backup_keep' has no unit 'days'"),
    ({"backup_keep": {"daily": 0}}, "setting 'backup_keep' 'daily': must be at least 1"),
    ({"backup_schedule": "daily\nExecStart=/bin/sh"}, "setting 'backup_schedule' must be a systemd calendar event"),
])
def test_bad_backup_settings_are_refused(bad, message):
    with pytest.raises(SettingsError) as refused:
        validate("gpu01", {**default_settings(), **bad})
    assert "gpu01" in str(refused.value) and message in str(refused.value)


def test_a_new_server_is_restored_before_its_hub_starts_and_a_used_one_never(tmp_path):
    password = tmp_path / "password"
    password.write_text("x\n")
    settings_ = {"gpu_enabled": False, "backup_repository": "/mnt/backup/hub", "backup_password_file": str(password),
                 "restore_from_backup": True}
    new = run_deploy(fresh_host("debian", "12"), **settings_)
    restore = new.index("/usr/local/sbin/jupyterhub-backup restore")
    assert restore < next(index for index, command in enumerate(new) if "compose up" in command)  # before the Hub starts
    used = fresh_host("debian", "12")
    database = "/home/jupyterhub/JupyterHubGPU/data/jupyterhub.sqlite"
    used["files.File"] = lambda path: {"mode": 600, "size": 1} if path == database else None
    assert "/usr/local/sbin/jupyterhub-backup restore" not in run_deploy(used, **settings_)
    with pytest.raises(SettingsError, match="setting 'restore_from_backup' needs backup_repository"):
        validate("gpu01", {**default_settings(), "restore_from_backup": True})
