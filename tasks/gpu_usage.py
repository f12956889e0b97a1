"""On every GPU node: a sampler that keeps the node's GPU usage (utilisation, memory, since when
idle, the last hour) in <node>.json in users_home_root's usage folder, which the Hub reads (in a
Swarm through the shared storage) for the admins' GPU page, Prometheus and reclaiming idle GPUs.
The decisions are jhgpu/gpu_usage.py, copied beside the sampler."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, systemd

from jhgpu.gpu_usage import node_name
from jhgpu.hub import render
from jhgpu.hub_services import gpu_usage_dir

LIBRARY = "/usr/local/lib/jupytergpu"
UNIT = "jupyterhub-gpu-usage.service"
SOURCES = [Path(__file__).resolve().parent.parent / "files" / "gpu_usage_sampler.py",
           Path(__file__).resolve().parent.parent / "jhgpu" / "gpu_usage.py"]

if host.data.gpu_enabled:
    usage_dir = gpu_usage_dir(host.data)
    files.directory(name=f"Create {LIBRARY}", path=LIBRARY, mode="755")
    # Root's, in the root-only users_home_root: no user's server mounts it.
    files.directory(name=f"Create {usage_dir}", path=usage_dir, user="root", group="root", mode="700")
    code = [files.put(name=f"Install the GPU sampler's {source.name}", src=str(source), dest=f"{LIBRARY}/{source.name}",
                      mode="644") for source in SOURCES]
    unit = files.put(name=f"Write {UNIT}", dest=f"/etc/systemd/system/{UNIT}", mode="644", src=StringIO(render(
        "jupyterhub-gpu-usage.service.j2",
        {"sampler": f"{LIBRARY}/gpu_usage_sampler.py", "usage_dir": usage_dir, "node": node_name(host.name)})))
    systemd.service(name="Sample the GPUs' usage now and at boot", service=UNIT, running=True, enabled=True,
                    daemon_reload=unit.will_change,
                    restarted=unit.will_change or any(op.will_change for op in code))
