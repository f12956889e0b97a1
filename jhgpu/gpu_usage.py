"""How busy each GPU is, since when it has been idle, and what to do about a server whose GPUs
stayed idle (gpu_idle_timeout). Pure: nvidia-smi's lines and clock readings in, state and
verdicts out.

Runs in three places, copied as it is: on each GPU server, by files/gpu_usage_sampler.py (which
samples nvidia-smi and keeps <node>.json in USAGE_FOLDER, inside users_home_root, so that on a
Swarm every node's file is on the shared storage the Hub's server sees); in the Hub, by the
admins' page (files/gpu_usage_service.py) and by the spawner's poll (files/spawner_policies.py),
which read every node's file. A GPU is idle while its utilisation reads 0 %: NVML's
utilization.gpu is the share of the last sample period in which a kernel ran (nvidia-smi(1),
"utilization.gpu"), so a notebook that only holds memory is idle, and one training a model is not.
"""

from __future__ import annotations

import json
import re

QUERY = "uuid,name,utilization.gpu,memory.used,memory.total"  # nvidia-smi --query-gpu, in this order
SAMPLE_SECONDS = 10
HISTORY_SECONDS = 3600  # kept for the page's sparkline
STALE_SECONDS = 300  # usage older than this is unknown: nothing is reclaimed on old news
# In users_home_root, root's like it: no user's server mounts it, and no user's folder is named
# so (DockerSpawner escapes '.' in names).
USAGE_FOLDER = ".jupytergpu-gpu-usage"


def node_name(host_name: str) -> str:
    """A node's name as its usage file is named (and the page shows it): the inventory's name,
    with anything but letters, digits, '.', '_' and '-' made '-'."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", host_name).lstrip(".") or "node"


def parse_query(lines: list[str]) -> dict[str, dict]:
    """`nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits` -> {uuid: sample}. A value
    nvidia-smi cannot read ("[N/A]", e.g. a GPU in MIG mode) is None."""
    samples = {}
    for line in lines:
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 5 or not fields[0].startswith("GPU-"):
            continue

        def number(text: str):
            return int(text) if text.isdigit() else None

        samples[fields[0]] = {"name": fields[1], "utilization": number(fields[2]),
                              "memory_used": number(fields[3]), "memory_total": number(fields[4])}
    return samples


# `nvidia-smi -L`'s lines for a GPU and for each of its MIG instances (also read by the NvidiaGpus fact).
GPU_LINE = re.compile(r"GPU (?P<index>\d+): .*\(UUID: (?P<uuid>GPU-[^)]+)\)")
MIG_LINE = re.compile(r"\s*MIG (?P<profile>\S+)\s+Device\s+(?P<device>\d+): \(UUID: (?P<uuid>MIG-[^)]+)\)")


def parse_listing(lines: list[str]) -> dict[str, list[dict]]:
    """`nvidia-smi -L` -> {GPU UUID: its MIG instances [{"uuid", "profile"}]} ([] outside MIG mode)."""
    instances: dict[str, list[dict]] = {}
    current = None
    for line in lines:
        if (gpu := GPU_LINE.match(line)):
            current = instances.setdefault(gpu["uuid"], [])
        elif (mig := MIG_LINE.match(line)) and current is not None:
            current.append({"uuid": mig["uuid"], "profile": mig["profile"]})
    return instances


def advance(state: dict, samples: dict[str, dict], now: float, mig: dict[str, list[dict]] | None = None) -> dict:
    """The next state of a node's usage: each GPU's latest sample, since when it has read 0 %
    (idle_since; None while busy or unknown), the last hour's utilisation ([time, percent]) and
    its MIG instances (`mig`: parse_listing's, when read; else as before)."""
    gpus = {}
    for uuid, sample in samples.items():
        before = (state.get("gpus") or {}).get(uuid, {})
        utilization = sample["utilization"]
        if utilization == 0:
            idle_since = before.get("idle_since") or now
        else:
            idle_since = None
        history = [point for point in before.get("history", []) if point[0] > now - HISTORY_SECONDS]
        instances = before.get("mig", []) if mig is None else mig.get(uuid, [])
        gpus[uuid] = {**sample, "idle_since": idle_since, "history": [*history, [now, utilization]], "mig": instances}
    return {"updated": now, "gpus": gpus}


def read_usage(text: str | None, now: float) -> dict[str, dict]:
    """One node's file's GPUs, or {} when it is missing, unreadable or stale."""
    try:
        state = json.loads(text or "")
    except ValueError:
        return {}
    if not isinstance(state, dict) or now - state.get("updated", 0) > STALE_SECONDS:
        return {}
    return state.get("gpus") or {}


def read_usages(texts: dict[str, str | None], now: float) -> dict[str, dict]:
    """Every node's GPUs ({node: its file's text}), each with its "node"; UUIDs are unique."""
    return {uuid: {**gpu, "node": node} for node, text in sorted(texts.items())
            for uuid, gpu in read_usage(text, now).items()}


BUSY, IDLE, WARN, STOP = "busy", "idle", "warn", "stop"


def idle_verdict(held: list[str], usage: dict[str, dict], now: float, timeout: float | None, grace: float,
                 warned_at: float | None) -> tuple[str, float | None]:
    """What to do with a server holding the GPUs `held`: (verdict, since when all of them have
    been idle). BUSY: one is in use, or unknown (never reclaim on missing data); IDLE: idle, not
    for `timeout` yet, or warned less than `grace` ago; WARN: tell the user now; STOP: warned
    `grace` ago and still idle."""
    if not timeout or not held or any(usage.get(uuid, {}).get("idle_since") is None for uuid in held):
        return BUSY, None
    since = max(usage[uuid]["idle_since"] for uuid in held)
    if now - since < timeout:
        return IDLE, since
    if warned_at is None or warned_at < since:
        return WARN, since
    return (STOP if now - warned_at >= grace else IDLE), since


def gpu_holders(gpu: dict, uuid: str, held: dict[str, list[str]]) -> list[str]:
    """Who holds a GPU: holders of the GPU itself, and of its MIG instances (named so)."""
    return [*held.get(uuid, []), *(f"{holder} (MIG {instance['profile']})" for instance in gpu.get("mig", [])
                                   for holder in held.get(instance["uuid"], []))]


def sparkline(history: list[list], width: int = 120, height: int = 24) -> str:
    """The last hour's utilisation as an inline SVG polyline (0 % at the bottom)."""
    points = [(time, percent) for time, percent in history if percent is not None]
    if len(points) < 2:
        return ""
    start, end = points[0][0], points[-1][0]
    span = max(end - start, 1)
    coordinates = " ".join(f"{(time - start) / span * width:.1f},{height - percent / 100 * height:.1f}"
                           for time, percent in points)
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="utilisation, last hour">'
            f'<polyline fill="none" stroke="currentColor" points="{coordinates}"/></svg>')


def _idle_seconds(gpu: dict, now: float) -> float | None:
    return None if gpu.get("idle_since") is None else now - gpu["idle_since"]


# Prometheus' text exposition format (version 0.0.4): one gauge per figure, labelled by GPU and
# holder: (name, the figure of a GPU at a time, or None when unknown, help).
METRICS = (("utilization_percent", lambda gpu, now: gpu.get("utilization"),
            "GPU utilisation (NVML utilization.gpu), percent"),
           ("memory_used_mib", lambda gpu, now: gpu.get("memory_used"), "GPU memory in use, MiB"),
           ("memory_total_mib", lambda gpu, now: gpu.get("memory_total"), "GPU memory, MiB"),
           ("idle_seconds", _idle_seconds, "Seconds the GPU has read 0 % utilisation"))


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(usage: dict[str, dict], holders: dict[str, list[str]], now: float) -> str:
    """The GPUs' usage as Prometheus metrics: jupytergpu_gpu_<figure>{node, uuid, name, holder}
    (holder "" for a free GPU), and jupytergpu_gpu_idle_seconds for the idle ones."""
    lines = []
    for metric, figure, meaning in METRICS:
        lines += [f"# HELP jupytergpu_gpu_{metric} {meaning}", f"# TYPE jupytergpu_gpu_{metric} gauge"]
        for uuid, gpu in sorted(usage.items()):
            value = figure(gpu, now)
            if value is None:
                continue
            labels = (f'node="{_label(gpu.get("node", ""))}",uuid="{_label(uuid)}",name="{_label(gpu.get("name", ""))}",'
                      f'holder="{_label(",".join(gpu_holders(gpu, uuid, holders)))}"')
            lines.append(f"jupytergpu_gpu_{metric}{{{labels}}} {value:g}")
    return "\n".join(lines) + "\n"
