"""On a GPU server: a sampler that keeps its GPUs' usage (utilisation, memory, since when idle,
the last hour) in GPU_USAGE_DIR, which the Hub reads for the admins' GPU page and to reclaim idle
GPUs (gpu_idle_timeout). The decisions are jhgpu/gpu_usage.py, copied beside the sampler."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, systemd

from jhgpu.fleet import role
from jhgpu.hub import GPU_USAGE_DIR, render, watches_gpus
from jhgpu.swarm import SINGLE

LIBRARY = "/usr/local/lib/jupytergpu"
UNIT = "jupyterhub-gpu-usage.service"
SOURCES = [Path(__file__).resolve().parent.parent / "files" / "gpu_usage_sampler.py",
           Path(__file__).resolve().parent.parent / "jhgpu" / "gpu_usage.py"]

if watches_gpus(host.data, swarm=role(host) != SINGLE):
    files.directory(name=f"Create {LIBRARY}", path=LIBRARY, mode="755")
    files.directory(name=f"Create {GPU_USAGE_DIR}", path=GPU_USAGE_DIR, user="root", group="root", mode="755")
    code = [files.put(name=f"Install the GPU sampler's {source.name}", src=str(source), dest=f"{LIBRARY}/{source.name}",
                      mode="644") for source in SOURCES]
    unit = files.put(name=f"Write {UNIT}", dest=f"/etc/systemd/system/{UNIT}", mode="644", src=StringIO(render(
        "jupyterhub-gpu-usage.service.j2", {"sampler": f"{LIBRARY}/gpu_usage_sampler.py", "usage_dir": GPU_USAGE_DIR})))
    systemd.service(name="Sample the GPUs' usage now and at boot", service=UNIT, running=True, enabled=True,
                    daemon_reload=unit.will_change,
                    restarted=unit.will_change or any(op.will_change for op in code))
