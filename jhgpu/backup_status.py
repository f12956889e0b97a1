"""What the server's last backups did, and the line admins see on the Hub's pages when one failed.

After every run of jupyterhub-backup and jupyterhub-backup-check, systemd runs this file
(`python3 backup_status.py record FILE UNIT`, the units' ExecStopPost=) with the run's outcome in
$SERVICE_RESULT and $EXIT_STATUS, which systemd passes to ExecStopPost= commands (systemd.exec(5),
"Environment Variables Set or Propagated by the Service Manager"; since systemd 232,
github.com/systemd/systemd/pull/3818, older than every release this deploy supports). FILE, in
the Hub's data folder, keeps per unit the last run's result and when a run last succeeded. The
Hub (jupyterhub_config.py) reads it for every page an admin opens and shows `admin_notice`.

Standalone (the standard library only): copied as it is onto the Hub's server and into the Hub's
image.
"""

from __future__ import annotations

import html
import json
import os
import sys
import time
from pathlib import Path

STATUS_FILE_NAME = "backup-status.json"  # in the Hub's data folder (left out of the backups)
WHAT = {"jupyterhub-backup": "backup", "jupyterhub-backup-check": "check of the backups"}


def recorded(status: dict, unit: str, result: str, exit_status: str, now: float) -> dict:
    """`status` with `unit`'s run that just ended; a success also becomes its last good run."""
    run = {**status.get(unit, {}), "result": result, "exit_status": exit_status, "finished": now}
    if result == "success":
        run["succeeded"] = now
    return {**status, unit: run}


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def notice(status: dict) -> str:
    """The line (HTML, its text escaped) telling admins which of the last runs failed; "" when
    none did or none ran yet."""
    lines = []
    for unit, what in WHAT.items():
        run = status.get(unit)
        if not isinstance(run, dict) or run.get("result", "success") == "success":
            continue
        last_good = (f"the last good one ended {_when(run['succeeded'])}" if run.get("succeeded")
                     else "none has succeeded yet")
        how = " ".join(str(part) for part in (run.get("result"), run.get("exit_status")) if part)
        lines.append(f"The server's last {what} failed ({_when(run.get('finished', 0))}, {how}); {last_good}. "
                     f"On the server, `systemctl status {unit}` and `journalctl -u {unit}` tell why.")
    return "<br>".join(html.escape(line) for line in lines)


def admin_notice(user, path: str | None) -> str:
    """For c.JupyterHub.template_vars: the failed-backup line for an admin, "" for anyone else
    (and without backups, path None, or when none ran yet)."""
    if not path or user is None or not getattr(user, "admin", False):
        return ""
    try:
        status = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return ""
    return notice(status) if isinstance(status, dict) else ""


def record(path: str, unit: str, environ=os.environ) -> None:
    """Write `unit`'s run that just ended into `path` (atomically, readable by the Hub)."""
    try:
        status = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        status = {}
    status = recorded(status if isinstance(status, dict) else {}, unit, environ.get("SERVICE_RESULT", "unknown"),
                      environ.get("EXIT_STATUS", ""), time.time())
    partial = Path(f"{path}.new")
    partial.write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
    partial.chmod(0o644)
    os.replace(partial, path)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "record":
        sys.exit("usage: backup_status.py record FILE UNIT")
    record(sys.argv[2], sys.argv[3])
