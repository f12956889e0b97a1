"""How long backing up and restoring takes, with restic as the deploy runs it (jhgpu/backups.py):
a made-up lab of N users' homes (default 200 MiB in all: notebooks, a dataset shard, a model
checkpoint, some files alike across users), backed up into a local repository, backed up again
after one user changed a file, and restored. Run: .venv/bin/python bench/backup_restore.py [MiB]

Needs restic on PATH (apt install restic). Not a test. The repository is on the same disk, so
these figures are restic's own cost; over SFTP to another host the network adds its share.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USERS = 8


def make_homes(root: Path, mib: int) -> None:
    shared = os.urandom(1024 * 1024)  # the same file in every home: a package wheel, a common dataset
    per_user = max(1, mib // USERS - 1)
    for index in range(USERS):
        home = root / f"user{index}"
        (home / "work").mkdir(parents=True)
        (home / "work" / "checkpoint.bin").write_bytes(os.urandom(per_user * 1024 * 1024))
        (home / "work" / "shared.whl").write_bytes(shared)
        for notebook in range(20):
            (home / "work" / f"analysis-{notebook}.ipynb").write_text('{"cells": []}\n' * 200)


def timed(command: list[str], env: dict) -> tuple[float, str]:
    began = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return time.monotonic() - began, done.stdout


def main(mib: int) -> None:
    if not shutil.which("restic"):
        sys.exit("restic is not on PATH: apt install restic")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "password").write_text("bench\n")
        env = {**os.environ, "RESTIC_REPOSITORY": str(work / "repository"),
               "RESTIC_PASSWORD_FILE": str(work / "password"), "RESTIC_CACHE_DIR": str(work / "cache")}
        make_homes(work / "homes", mib)
        subprocess.run(["restic", "init"], env=env, capture_output=True, check=True)
        first, _ = timed(["restic", "backup", str(work / "homes")], env)
        (work / "homes" / "user0" / "work" / "analysis-0.ipynb").write_text('{"cells": ["changed"]}\n')
        second, output = timed(["restic", "backup", str(work / "homes")], env)
        added = next((line for line in output.splitlines() if line.startswith("Added to the repository")), "")
        restore, _ = timed(["restic", "restore", "latest", "--target", str(work / "restored")], env)
        stored = sum(path.stat().st_size for path in (work / "repository").rglob("*") if path.is_file())
    print(f"{USERS} homes, {mib} MiB: first backup {first:.1f} s, a second after one change {second:.1f} s "
          f"({added.strip()}), restore {restore:.1f} s; repository {stored / 2**20:.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
