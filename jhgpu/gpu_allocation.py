"""Which GPUs each user's server gets. Pure: GPUs and holdings in, choices and messages out.

Two sides use this one file:
- the deploy, to turn the host's GPUs (the NvidiaGpus fact) into the list the Hub allocates from
  (`allocatable_gpus`), rendered into jupyterhub_config.py;
- the Hub, where the deploy copies it beside `files/hub/gpu_spawner.py`, the DockerSpawner that
  asks it what to give each server.
So it needs nothing but Python's standard library.

Docker never picks free GPUs (a count of N is always devices 0..N-1), so the Hub chooses them by
UUID and passes them as a device request. What each server holds is written on its container as
labels, read back from Docker at every spawn: nothing to drift, and it outlives Hub restarts. A
server's GPUs are free again once its container is gone (stopped or culled; DockerSpawner removes
it). One lock in the Hub serializes choosing and creating the container, so two spawns at the
same moment never get the same GPU (`Allocator`).
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from typing import Awaitable, Callable

EXCLUSIVE, SHARED = "exclusive", "shared"
GPUS_LABEL = "org.jupytergpu.gpus"  # on a user's container: the UUIDs it holds, comma-separated
HOLDER_LABEL = "org.jupytergpu.gpu-holder"  # ... and whose server it is
ENV_VAR = "JUPYTERGPU_GPUS"  # inside the server: which GPUs it got, in words
CPU_ONLY = 0


@dataclass(frozen=True)
class Gpu:
    """One allocatable unit: a whole GPU, or one MIG instance of a GPU in MIG mode."""

    uuid: str  # GPU-… or MIG-…: what the device request names
    name: str  # what users read in the form and messages

    @classmethod
    def of(cls, entry: dict) -> "Gpu":
        return cls(uuid=entry["uuid"], name=entry["name"])


def allocatable_gpus(gpus: list[dict] | None) -> list[dict]:
    """The NvidiaGpus fact's GPUs as the units the Hub hands out, in host order: a GPU in MIG
    mode is its MIG instances (the GPU itself cannot be given whole while they exist), any
    other GPU is itself. None (no driver yet) is no GPU."""
    units = []
    for gpu in gpus or []:
        if gpu.get("mig_enabled"):
            units.extend({"uuid": mig["uuid"], "name": f"GPU {gpu['index']} MIG {mig['profile']} "
                                                      f"(instance {mig['device']}): {gpu['name']}"}
                         for mig in gpu.get("mig", []))
        else:
            units.append({"uuid": gpu["uuid"],
                          "name": f"GPU {gpu['index']}: {gpu['name']}, {round(gpu['memory_mib'] / 1024)} GiB"})
    return units


# --- what each server holds, from its container's labels ----------------------------------------

def holder_labels(holder: str, uuids: tuple[str, ...]) -> dict[str, str]:
    """The labels a server's container carries: read back by `holdings` at every spawn."""
    return {GPUS_LABEL: ",".join(uuids), HOLDER_LABEL: holder}


def assigned_gpus(task: dict) -> list[str]:
    """The GPU UUIDs Swarm assigned a task (its named generic resources, as `docker inspect` of
    the task shows them)."""
    return [resource["NamedResourceSpec"]["Value"] for resource in task.get("GenericResources") or []
            if resource.get("NamedResourceSpec", {}).get("Kind") == "gpu"]


def swarm_holder_labels(service_labels: dict[str, str], tasks: list[dict]) -> dict[str, str]:
    """A Swarm server's labels as holdings() reads them: the holder its service is labelled with,
    and the GPUs Swarm assigned its running tasks."""
    return holder_labels(service_labels.get(HOLDER_LABEL, "?"),
                         tuple(uuid for task in tasks for uuid in assigned_gpus(task)))


def holdings(container_labels: list[dict[str, str]]) -> dict[str, tuple[str, ...]]:
    """Who holds which GPUs, from the labels of the containers on the host."""
    held: dict[str, tuple[str, ...]] = {}
    for labels in container_labels:
        uuids = tuple(uuid for uuid in labels.get(GPUS_LABEL, "").split(",") if uuid)
        if uuids:
            holder = labels.get(HOLDER_LABEL, "?")
            held[holder] = held.get(holder, ()) + uuids
    return held


def load(gpus: list[Gpu], held: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Each GPU's holders (UUID -> names), in host order. GPUs no longer on the host are left out."""
    holders: dict[str, list[str]] = {gpu.uuid: [] for gpu in gpus}
    for holder, uuids in sorted(held.items()):
        for uuid in uuids:
            if uuid in holders:
                holders[uuid].append(holder)
    return holders


# --- what a user asks for -----------------------------------------------------------------------

def requested(value, gpus: list[Gpu], max_gpus: int) -> int | str:
    """A request from the spawn form or the REST API: a count (0 is a CPU-only server) or one
    GPU's UUID. Raises ValueError with a message a user can act on."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= max_gpus:
            return value
        if max_gpus < 1:
            raise ValueError(f"Your groups allow you no GPU, not {value}: start a CPU-only server.")
        raise ValueError(f"You can ask for 0 to {max_gpus} GPUs, not {value}.")
    if isinstance(value, str) and value in {gpu.uuid for gpu in gpus}:
        if max_gpus < 1:
            raise ValueError("Your groups allow you no GPU: start a CPU-only server.")
        return value
    raise ValueError(f"There is no GPU {value!r} on this server: choose one from the form.")


class NoGpuFree(Exception):
    """Not enough GPUs are free. The message names who holds which, and offers a CPU-only server."""


def _none_free(gpus: list[Gpu], holders: dict[str, list[str]], wanted: str) -> NoGpuFree:
    held = "; ".join(f"{gpu.name} is held by {', '.join(holders[gpu.uuid])}" for gpu in gpus if holders[gpu.uuid])
    return NoGpuFree(f"{wanted}. {held or 'No GPU is held by anyone'}. Start a CPU-only server instead "
                     "(choose \"No GPU\"), or try again once one of them stops their server.")


def assign(gpus: list[Gpu], held: dict[str, tuple[str, ...]], request: int | str, mode: str) -> tuple[str, ...]:
    """The UUIDs a new server gets. Exclusive: only GPUs no running server holds. Shared: any
    GPU. Either way the least-loaded first (fewest holders), then in host order, so servers
    spread over the GPUs instead of piling onto device 0."""
    if request == CPU_ONLY:
        return ()
    holders = load(gpus, held)
    if isinstance(request, str):
        if mode == EXCLUSIVE and holders[request]:
            name = next(gpu.name for gpu in gpus if gpu.uuid == request)
            raise _none_free(gpus, holders, f"{name} is not free any more")
        return (request,)
    candidates = [gpu for gpu in gpus if mode == SHARED or not holders[gpu.uuid]]
    if len(candidates) < request:
        free = len(candidates)
        wanted = ("No GPU is free" if not free else f"Only {free} GPU{'s' * (free > 1)} "
                  f"{'are' if free > 1 else 'is'} free, and you asked for {request}")
        if not gpus:
            wanted = "This server has no GPU the Hub knows of"
        raise _none_free(gpus, holders, wanted)
    order = {gpu.uuid: position for position, gpu in enumerate(gpus)}
    chosen = sorted(candidates, key=lambda gpu: (len(holders[gpu.uuid]), order[gpu.uuid]))[:request]
    return tuple(gpu.uuid for gpu in sorted(chosen, key=lambda gpu: order[gpu.uuid]))


def described(gpus: list[Gpu], uuids: tuple[str, ...]) -> str:
    """What a server got, in words: for its progress message and the JUPYTERGPU_GPUS variable."""
    if not uuids:
        return "no GPU (a CPU-only server)"
    names = {gpu.uuid: gpu.name for gpu in gpus}
    return "; ".join(f"{names.get(uuid, 'GPU')} ({uuid})" for uuid in uuids)


def device_requests(uuids: tuple[str, ...]) -> list[dict]:
    """Docker's device request for exactly these GPUs (docker-py's DeviceRequest fields)."""
    return [{"device_ids": list(uuids), "capabilities": [["gpu"]]}] if uuids else []


class Allocator:
    """Choosing GPUs and creating the container that holds them, one spawn at a time.

    The Hub is one process: an asyncio lock around "read the holdings, choose, create the
    labelled container" means the next spawn reads a holding the previous one wrote."""

    def __init__(self):
        self._lock = asyncio.Lock()

    async def allocate(self, gpus: list[Gpu], request: int | str, mode: str,
                       read_holdings: Callable[[], Awaitable[dict]],
                       create: Callable[[tuple[str, ...]], Awaitable]):
        async with self._lock:
            uuids = assign(gpus, await read_holdings(), request, mode)
            return uuids, await create(uuids)


# --- the spawn form -----------------------------------------------------------------------------

def _option(value, label: str, selected: bool) -> str:
    return (f'<option value="{html.escape(str(value))}"{" selected" if selected else ""}>'
            f"{html.escape(label)}</option>")


def spawn_form(images: dict[str, str], image: str, gpus: list[Gpu], held: dict[str, tuple[str, ...]],
               mode: str, max_gpus: int, default: int, by_name: bool = True) -> str:
    """The spawn form: the image (when there is a choice) and the GPUs, as a count (the Hub
    picks) or one GPU by name (only free ones when exclusive; not in a Swarm, where Swarm picks)."""
    parts = []
    if len(images) > 1:
        options = "".join(_option(name, name, ref == image) for name, ref in images.items())
        parts.append('<label for="image">Image</label>\n'
                     f'<select class="form-control" name="image" id="image" required>{options}</select>')
    if gpus:
        holders = load(gpus, held)
        free = [gpu for gpu in gpus if not holders[gpu.uuid]]
        counts = [_option(CPU_ONLY, "No GPU (CPU only)", default == CPU_ONLY)]
        counts += [_option(n, f"{n} GPU{'s' * (n > 1)}, chosen for you", n == default) for n in range(1, max_gpus + 1)]
        if mode == EXCLUSIVE:
            named = [_option(gpu.uuid, gpu.name, False) for gpu in free]
            group = "A free GPU by name"
        else:
            named = [_option(gpu.uuid, f"{gpu.name} (in use by {len(holders[gpu.uuid])})", False) for gpu in gpus]
            group = "A GPU by name"
        status = (f"{len(free)} of {len(gpus)} GPUs are free now; a server's GPUs are its own until it stops."
                  if mode == EXCLUSIVE else "GPUs are shared: servers may use the same GPU.")
        names = f'<optgroup label="{group}">{"".join(named)}</optgroup>' if by_name and max_gpus > 0 else ""
        parts.append(f'<label for="gpus">GPUs</label>\n<select class="form-control" name="gpus" id="gpus">'
                     f'{"".join(counts)}{names}</select>\n'
                     f'<p class="help-block">{html.escape(status)}</p>')
    return "\n".join(parts)


def options_from_form(formdata: dict[str, list[str]]) -> dict:
    """The form's fields as user_options (checked when the server starts)."""
    return {key: formdata[key][0] for key in ("image", "gpus") if formdata.get(key)}


USERNAME_SAFE = re.compile(r"[^a-z0-9._/-]")


def holder_name(user: str, server: str) -> str:
    """How a holder is named in labels and messages: the user, and a named server after '/'."""
    return USERNAME_SAFE.sub("-", f"{user}/{server}" if server else user)
