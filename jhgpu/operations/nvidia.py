"""The NVIDIA driver's apt source on Debian, and checks of the NVIDIA stack as containers see it."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from jhgpu.facts.nvidia import GpuContainerView
from jhgpu.nvidia import DEBIAN_DRIVER_SOURCE, DriverPlan
from jhgpu.operations.apt import signed_apt_source

q = shlex.quote


def debian_driver_source(plan: DriverPlan) -> None:
    """Debian: what the driver needs beyond the host's own apt sources (plan.sources), in the
    deploy's own file; nothing elsewhere."""
    if plan.sources is not None:
        signed_apt_source(name="Add what Debian's NVIDIA driver needs to the apt sources (non-free, -security)",
                          source=DEBIAN_DRIVER_SOURCE, lines=list(plan.sources))


@operation()
def gpu_check(image: str):
    """Show what a container with GPUs requested sees; fail when it sees none. Reads only."""
    view = host.get_fact(GpuContainerView, image=image) or {"gpus": [], "error": "Docker is not installed"}
    if not view["gpus"]:
        message = (f"no GPU is visible to containers on this host: `docker run --gpus all {image}` saw none"
                   f" ({view['error'] or 'nvidia-smi listed no GPU'}). Check `nvidia-smi` on the host and"
                   " the NVIDIA Container Toolkit.")
        yield f"echo {q(message)} >&2; exit 1"
        return
    tensorflow = view["tensorflow"]
    found = "TensorFlow is not in this image" if tensorflow is None else f"TensorFlow finds {tensorflow} GPU(s)"
    host.noop(f"a container sees {len(view['gpus'])} GPU(s): {', '.join(view['gpus'])}; {found}")
    yield from ()  # a check: it never changes the host
