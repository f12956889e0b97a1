"""What watching the GPUs costs a GPU server: the usage sampler (files/gpu_usage_sampler.py) run
for a while against a stand-in nvidia-smi reporting 8 GPUs, its CPU time and memory measured
from /proc. Run: .venv/bin/python bench/gpu_watch.py [seconds]

Not a test, and not the whole cost on real hardware: there each sample runs the real nvidia-smi,
which opens NVML; its own cost is printed separately when an nvidia-smi is on PATH. The admins'
page costs nothing between visits (it reads the usage file when asked).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
STANDIN = "#!/bin/sh\n" + "".join(
    f"echo 'GPU-{index:08d}-0000-4000-8000-000000000000, NVIDIA H200, {index * 10}, 1024, 143771'\n" for index in range(8))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children (the nvidia-smi runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[index]) for index in (11, 12, 13, 14)) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "bin").mkdir()
        (work / "bin" / "nvidia-smi").write_text(STANDIN)
        (work / "bin" / "nvidia-smi").chmod(0o755)
        for source in (REPO / "files" / "gpu_usage_sampler.py", REPO / "jhgpu" / "gpu_usage.py"):
            shutil.copy(source, work)
        env = {**os.environ, "PATH": f"{work / 'bin'}:{os.environ['PATH']}"}
        sampler = subprocess.Popen([sys.executable, str(work / "gpu_usage_sampler.py"), str(work)], env=env)
        time.sleep(seconds)
        cpu, rss = cpu_seconds(sampler.pid), rss_mib(sampler.pid)
        size = (work / "usage.json").stat().st_size
        sampler.terminate()
        sampler.wait()
    print(f"sampler, {seconds:.0f} s, 8 GPUs: {cpu / seconds * 100:.2f} % of one core, {rss:.1f} MiB resident, "
          f"usage file {size / 1024:.0f} KiB")
    if shutil.which("nvidia-smi"):
        start = time.process_time()
        began = time.monotonic()
        subprocess.run(["nvidia-smi", "--query-gpu=uuid,name,utilization.gpu,memory.used,memory.total",
                        "--format=csv,noheader,nounits"], capture_output=True)
        print(f"one real nvidia-smi query: {time.monotonic() - began:.2f} s wall")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 120)
