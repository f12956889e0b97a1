"""Checks of the NVIDIA stack as containers see it.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from jhgpu.facts.nvidia import GpuContainerView

q = shlex.quote


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
