"""Samples this GPU server's GPUs every few seconds with nvidia-smi and keeps their usage in a
file the Hub reads (gpu_usage.USAGE_FILE in the folder given as the argument): utilisation and
memory now, since when each GPU has been idle, and the last hour. Run by
jupyterhub-gpu-usage.service (templates/jupyterhub-gpu-usage.service.j2), installed by
tasks/gpu_usage.py beside gpu_usage.py (the decisions, jhgpu/gpu_usage.py).

Costs one nvidia-smi run per sample (SAMPLE_SECONDS); README, "What watching the GPUs costs".
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gpu_usage


def sample() -> dict:
    try:
        answer = subprocess.run(["nvidia-smi", f"--query-gpu={gpu_usage.QUERY}", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return gpu_usage.parse_query(answer.stdout.splitlines()) if answer.returncode == 0 else {}


def main(folder: Path) -> None:
    target = folder / gpu_usage.USAGE_FILE
    try:
        state = json.loads(target.read_text())
    except (OSError, ValueError):
        state = {}
    while True:
        state = gpu_usage.advance(state, sample(), time.time())
        scratch = folder / f".{gpu_usage.USAGE_FILE}.new"
        scratch.write_text(json.dumps(state))
        os.replace(scratch, target)  # readers never see half a file
        time.sleep(gpu_usage.SAMPLE_SECONDS)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
