"""Backups of what a lab keeps on the Hub's server (backup_repository): what restic backs up,
where, how often and how long it is kept. Decisions only: settings in, a plan out; tasks/backups.py
installs it, templates/jupyterhub-backup.sh.j2 is the script systemd's timers run.

restic (Debian and Ubuntu package it) is deduplicated and encrypted, and verifies a repository
with `restic check`. What goes in: a consistent copy of the Hub's database (SQLite's online backup,
taken into BACKUP_STAGING first; the live file is excluded, as a copy of it may be mid-write), the
rest of the Hub's data folder (the declared-accounts record, the cookie secret), the proxy's data
(certificates and the ACME account), users_home_root (every ~/work, and on a Swarm whole homes),
team_folders_root where there are team folders, and each user's home volume (the rest of their
home on a single server). Not the images: the deploy rebuilds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jhgpu.backup_status import STATUS_FILE_NAME
from jhgpu.hub import HUB_DATA_DIR, HUB_DB_FILE, home_volume_prefix
from jhgpu.tls import PROXY_DIR

PACKAGE = "restic"
SECRETS_DIR = "/etc/jupytergpu/backup"  # root's, 0700: the password, and for SFTP the key and known hosts
SCRIPT = "/usr/local/sbin/jupyterhub-backup"
BACKUP_UNIT, CHECK_UNIT = "jupyterhub-backup", "jupyterhub-backup-check"
BACKUP_STAGING = "/var/lib/jupytergpu-backup"  # the database's consistent copy, before restic reads it
STATUS_RECORDER = "/usr/local/lib/jupytergpu/backup_status.py"  # jhgpu/backup_status.py: each run's outcome
KEEP_UNITS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")  # restic forget --keep-<unit>
SFTP = re.compile(r"sftp:(?P<login>[A-Za-z0-9._-]+@[A-Za-z0-9.:\[\]-]+):(?P<path>/.*)")


@dataclass(frozen=True)
class BackupPlan:
    repository: str
    paths: tuple[str, ...]
    excludes: tuple[str, ...]
    home_volumes: str  # the name prefix of users' home volumes (their mount points are backed up)
    keep: tuple[str, ...]  # restic forget arguments
    schedule: str  # systemd OnCalendar
    check_schedule: str
    sftp_command: str | None  # restic's -o sftp.command, with the key and known hosts given
    database: str  # the Hub's live database, on the server
    status_file: str  # each run's outcome, in the Hub's data folder (jhgpu/backup_status.py)

    @property
    def secrets(self) -> dict[str, str]:
        """{setting: name in SECRETS_DIR} of the files the deploy uploads."""
        names = {"backup_password_file": "password"}
        if self.sftp_command:
            names.update(backup_ssh_key_file="ssh-key", backup_ssh_known_hosts_file="known_hosts")
        return names


def keep_arguments(keep: dict[str, int]) -> tuple[str, ...]:
    return tuple(argument for unit in KEEP_UNITS if unit in keep for argument in (f"--keep-{unit}", str(keep[unit])))


def sftp_command(repository: str) -> str | None:
    """ssh with the deploy's key and known hosts only, never asking (restic's sftp.command)."""
    found = SFTP.fullmatch(repository)
    if not found:
        return None
    return (f"ssh -i {SECRETS_DIR}/ssh-key -o UserKnownHostsFile={SECRETS_DIR}/known_hosts "
            f"-o StrictHostKeyChecking=yes -o BatchMode=yes {found['login']} -s sftp")


def backup_plan(data) -> BackupPlan | None:
    """The Hub's server's backups; None without backup_repository."""
    if not data.backup_repository:
        return None
    root = data.jupyterhub_root.rstrip("/")
    paths = [f"{root}/{HUB_DATA_DIR}", f"{root}/{PROXY_DIR}/data", BACKUP_STAGING, data.users_home_root]
    if data.team_folders:
        paths.append(data.team_folders_root)
    live_db = f"{root}/{HUB_DATA_DIR}/{HUB_DB_FILE}"
    status_file = f"{root}/{HUB_DATA_DIR}/{STATUS_FILE_NAME}"  # a restored server starts with no old verdict
    return BackupPlan(
        repository=data.backup_repository, paths=tuple(paths),
        excludes=(live_db, f"{live_db}-journal", f"{root}/{HUB_DATA_DIR}/backups", status_file, f"{status_file}.new"),
        home_volumes=home_volume_prefix(data), keep=keep_arguments(data.backup_keep),
        schedule=data.backup_schedule, check_schedule=data.backup_check_schedule,
        sftp_command=sftp_command(data.backup_repository), database=live_db, status_file=status_file)


def unit_files(plan: BackupPlan) -> dict[str, str]:
    """systemd units, {file name in /etc/systemd/system: text}: a timer each for the backup and
    the check, and the oneshot services they start. A failed run leaves its service `failed`
    (`systemctl --failed`, `systemctl status jupyterhub-backup`) until the next one succeeds;
    every run's outcome is also recorded for the Hub, which shows admins a failure on its pages."""
    files = {}
    for unit, what, schedule, argument in ((BACKUP_UNIT, "Back up the JupyterHub server", plan.schedule, ""),
                                           (CHECK_UNIT, "Check the JupyterHub server's backups", plan.check_schedule,
                                            " check")):
        files[f"{unit}.service"] = (f"# Written by the deploy (tasks/backups.py).\n[Unit]\nDescription={what}\n"
                                    "Wants=network-online.target\nAfter=network-online.target docker.service\n\n"
                                    f"[Service]\nType=oneshot\nExecStart={SCRIPT}{argument}\n"
                                    f"ExecStopPost=/usr/bin/python3 {STATUS_RECORDER} record {plan.status_file} {unit}\n"
                                    "Nice=10\nIOSchedulingClass=idle\n")
        files[f"{unit}.timer"] = (f"# Written by the deploy (tasks/backups.py).\n[Unit]\nDescription={what}, on schedule\n\n"
                                  f"[Timer]\nOnCalendar={schedule}\nPersistent=true\nRandomizedDelaySec=10min\n\n"
                                  "[Install]\nWantedBy=timers.target\n")
    return files
