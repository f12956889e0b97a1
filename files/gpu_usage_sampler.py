"""Samples this GPU server's GPUs every few seconds with nvidia-smi and keeps their usage in a
file the Hub reads (<node>.json in the folder given as the first argument, the node's name the
second): utilisation and memory now, since when each GPU has been idle, and the last hour. Run by
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


LISTING_EVERY = 6  # samples between `nvidia-smi -L` runs: MIG instances change rarely


def nvidia_smi(*args: str) -> list[str] | None:
    try:
        answer = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return answer.stdout.splitlines() if answer.returncode == 0 else None


def main(folder: Path, node: str) -> None:
    target = folder / f"{node}.json"
    try:
        state = json.loads(target.read_text())
    except (OSError, ValueError):
        state = {}
    count = 0
    while True:
        samples = nvidia_smi(f"--query-gpu={gpu_usage.QUERY}", "--format=csv,noheader,nounits")
        listing = nvidia_smi("-L") if count % LISTING_EVERY == 0 else None
        mig = gpu_usage.parse_listing(listing) if listing is not None else None
        state = gpu_usage.advance(state, gpu_usage.parse_query(samples or []), time.time(), mig)
        count += 1
        scratch = folder / f".{node}.json.new"
        scratch.write_text(json.dumps(state))
        os.replace(scratch, target)  # readers never see half a file
        time.sleep(gpu_usage.SAMPLE_SECONDS)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
