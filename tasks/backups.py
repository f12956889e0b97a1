"""Backups of the Hub's server with restic (backup_repository), as jhgpu/backups.py plans them:
the package, the repository's password (and for SFTP the key and known hosts) in a root-only
folder, the script and its timers. Nothing here runs a backup: the timer does, or an admin
(`systemctl start jupyterhub-backup`). With restore_from_backup, a new server (no Hub database
yet) gets the latest snapshot back before the Hub first starts; a server with a database never."""

from io import StringIO

from pyinfra import host, logger
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

from jhgpu import backup_status
from jhgpu.backups import (BACKUP_STAGING, BACKUP_UNIT, CHECK_UNIT, PACKAGE, SCRIPT, SECRETS_DIR, STATUS_RECORDER,
                           backup_plan, unit_files)
from jhgpu.hub import HUB_DB_FILE, render
from jhgpu.operations.apt import apt_install

plan = backup_plan(host.data)
if plan:
    apt_install(name=f"Install {PACKAGE}", packages=[PACKAGE])
    files.directory(name=f"Create {SECRETS_DIR}", path=SECRETS_DIR, user="root", group="root", mode="700")
    for setting, name in plan.secrets.items():
        files.put(name=f"Upload {setting} into {SECRETS_DIR}", src=getattr(host.data, setting),
                  dest=f"{SECRETS_DIR}/{name}", user="root", group="root", mode="600")
    files.put(name=f"Write {SCRIPT}", dest=SCRIPT, user="root", group="root", mode="700", src=StringIO(render(
        "jupyterhub-backup.sh.j2", {"plan": plan, "secrets_dir": SECRETS_DIR, "staging": BACKUP_STAGING,
                                    "db": plan.database, "db_name": HUB_DB_FILE})))
    if host.data.restore_from_backup:
        if host.get_fact(File, path=plan.database):
            host.log(f"Note: restore_from_backup is set, but the Hub's database {plan.database} exists: nothing is "
                     "restored over it (set it to False once a restore is done)", logger.info)
        else:
            server.shell(name=f"Restore the latest backup from {plan.repository}", commands=[f"{SCRIPT} restore"])
    files.put(name=f"Install {STATUS_RECORDER} (each run's outcome, for the Hub's admins)", src=backup_status.__file__,
              dest=STATUS_RECORDER, user="root", group="root", mode="644", create_remote_dir=True)
    units = [files.put(name=f"Write {name}", src=StringIO(text), dest=f"/etc/systemd/system/{name}", mode="644")
             for name, text in unit_files(plan).items()]
    for unit in (BACKUP_UNIT, CHECK_UNIT):
        systemd.service(name=f"Run {unit}.timer", service=f"{unit}.timer", running=True, enabled=True,
                        daemon_reload=any(op.will_change for op in units))
