"""What admins are told when a backup failed (jhgpu/backup_status.py): each run's outcome as
systemd's ExecStopPost= records it, and the line the Hub shows admins on every page. Live: the
failed backup in tests/test_e2e_backup.py, read in a browser on the admin's pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

from jhgpu.backup_status import admin_notice, notice, recorded
from jhgpu.backups import backup_plan, unit_files
from test_hub import hub_config, settings

ADMIN, USER = SimpleNamespace(name="root-of-it", admin=True), SimpleNamespace(name="bob", admin=False)
NOON = 1_796_040_000.0  # 2026-11-30 12:00 UTC


def test_a_failure_keeps_when_a_backup_last_succeeded_and_a_success_clears_it():
    status = recorded({}, "jupyterhub-backup", "success", "0", NOON)
    assert notice(status) == ""
    failed = recorded(status, "jupyterhub-backup", "exit-code", "1", NOON + 86400)
    assert notice(failed) == ("The server&#x27;s last backup failed (2026-12-01 12:00 UTC, exit-code 1); the last good "
                              "one ended 2026-11-30 12:00 UTC. On the server, `systemctl status jupyterhub-backup` "
                              "and `journalctl -u jupyterhub-backup` tell why.")
    assert notice(recorded(failed, "jupyterhub-backup", "success", "0", NOON + 90000)) == ""


def test_a_failed_check_is_told_too_and_a_backup_that_never_succeeded_says_so():
    status = recorded(recorded({}, "jupyterhub-backup", "timeout", "", NOON), "jupyterhub-backup-check",
                      "exit-code", "1", NOON)
    lines = notice(status).split("<br>")
    assert "last backup failed (2026-11-30 12:00 UTC, timeout); none has succeeded yet" in lines[0]
    assert lines[1].startswith("The server&#x27;s last check of the backups failed")


def test_only_admins_are_told_and_a_missing_or_broken_file_tells_nothing(tmp_path):
    path = tmp_path / "backup-status.json"
    assert admin_notice(ADMIN, str(path)) == ""  # no backup ran yet
    path.write_text(json.dumps(recorded({}, "jupyterhub-backup", "exit-code", "<b>1</b>", NOON)))
    assert "last backup failed" in admin_notice(ADMIN, str(path))
    assert "&lt;b&gt;1&lt;/b&gt;" in admin_notice(ADMIN, str(path))  # the page shows text, never markup from a file
    assert admin_notice(USER, str(path)) == admin_notice(None, str(path)) == admin_notice(ADMIN, None) == ""
    path.write_text("{half a file")
    assert admin_notice(ADMIN, str(path)) == ""


def test_systemd_records_each_run_where_the_hub_reads_it(tmp_path):
    plan = backup_plan(settings(backup_repository="/mnt/backup/hub"))
    for unit in ("jupyterhub-backup", "jupyterhub-backup-check"):
        assert (f"ExecStopPost=/usr/bin/python3 /usr/local/lib/jupytergpu/backup_status.py record "
                f"/home/jupyterhub/JupyterHubGPU/data/backup-status.json {unit}\n") in unit_files(plan)[f"{unit}.service"]
    assert plan.status_file in plan.excludes  # a restored server does not inherit an old verdict
    # The recorder as systemd runs it: the run's outcome in its environment.
    path = tmp_path / "backup-status.json"
    recorder = os.path.join(os.path.dirname(__file__), "..", "jhgpu", "backup_status.py")
    for result, code in (("success", "0"), ("exit-code", "3")):
        subprocess.run([sys.executable, recorder, "record", str(path), "jupyterhub-backup"], check=True,
                       env={"SERVICE_RESULT": result, "EXIT_STATUS": code})
    run = json.loads(path.read_text())["jupyterhub-backup"]
    assert (run["result"], run["exit_status"]) == ("exit-code", "3") and run["succeeded"] < run["finished"] + 1
    assert oct(path.stat().st_mode & 0o777) == "0o644"  # the Hub reads it


def test_the_hubs_pages_tell_admins_where_backups_are_set(tmp_path, monkeypatch):
    """The rendered jupyterhub_config.py's template_vars, called as JupyterHub calls them for a
    page (with the page's user), with the modules the Hub's image has beside it."""
    from jhgpu import backup_status

    monkeypatch.setitem(sys.modules, "backup_status", backup_status)
    monkeypatch.setitem(sys.modules, "spawner_policies", SimpleNamespace(idle_notice=lambda user: "GPUs idle"))
    pages = hub_config(backup_repository="/mnt/backup/hub", backup_password_file=__file__).JupyterHub.template_vars
    status_file = "/srv/jupyterhub/data/backup-status.json"  # the data folder, as the Hub's container sees it
    real_path = backup_status.Path
    monkeypatch.setattr(backup_status, "Path", lambda path: tmp_path / "status.json" if path == status_file
                        else real_path(path))
    (tmp_path / "status.json").write_text(json.dumps(recorded({}, "jupyterhub-backup", "exit-code", "1", NOON)))
    assert "last backup failed" in pages["announcement"](ADMIN)  # the admin page, and every other
    assert pages["announcement_home"](ADMIN).startswith("The server&#x27;s last backup failed")
    assert pages["announcement_home"](ADMIN).endswith("<br>GPUs idle")
    assert pages["announcement"](USER) == "" and pages["announcement_home"](USER) == "GPUs idle"
    without = hub_config(gpu_enabled=False).JupyterHub.template_vars
    assert without["announcement"](ADMIN) == ""  # no backups: nothing read, nothing told
