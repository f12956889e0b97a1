"""Facts about a host's NVIDIA GPUs and driver, parsed from what the host's own tools print.
Query one by hand: pyinfra inventory.py fact jhgpu.facts.nvidia.NvidiaGpus
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from jhgpu.cuda import version_key
from jhgpu.gpu_usage import GPU_LINE, MIG_LINE


class NvidiaGpus(FactBase):
    """The GPUs the driver sees: [{"index", "name", "uuid", "memory_mib", "driver_version",
    "mig_enabled", "mig": [{"profile", "device", "uuid"}]}], or None when nvidia-smi is missing or
    fails (no driver, or a driver/library version mismatch). MIG instances come from
    `nvidia-smi -L`, the one listing that names them with their UUIDs."""

    def command(self) -> str:
        return ("if command -v nvidia-smi >/dev/null; then { nvidia-smi --query-gpu=index,name,uuid,memory.total,"
                "driver_version,mig.mode.current --format=csv,noheader,nounits && nvidia-smi -L; } 2>/dev/null"
                " || echo FAILED; fi")

    def process(self, output):
        lines = [line for line in output if line.strip()]
        if not lines or lines[-1].strip() == "FAILED":
            return None
        return gpus_from_nvidia_smi(lines)


def gpus_from_nvidia_smi(lines: list[str]) -> list[dict]:
    """Parse `nvidia-smi --query-gpu=index,name,uuid,memory.total,driver_version,mig.mode.current
    --format=csv,noheader,nounits` followed by `nvidia-smi -L` (its GPU and MIG lines)."""
    gpus, by_index, current = [], {}, None
    for line in lines:
        if (gpu_line := GPU_LINE.match(line)):
            current = by_index.get(int(gpu_line["index"]))
        elif (mig_line := MIG_LINE.match(line)):
            if current is not None:
                current["mig"].append({"profile": mig_line["profile"], "device": int(mig_line["device"]),
                                       "uuid": mig_line["uuid"]})
        elif line.strip():
            index, name, uuid, memory, driver, mig_mode = (part.strip() for part in line.split(","))
            gpu = {"index": int(index), "name": name, "uuid": uuid, "memory_mib": int(memory),
                   "driver_version": driver, "mig_enabled": mig_mode == "Enabled", "mig": []}
            gpus.append(gpu)
            by_index[gpu["index"]] = gpu
    return gpus


class NvidiaKernelModule(FactBase):
    """The version of the loaded nvidia kernel module ("570.133.20"), or None when none is loaded."""

    def command(self) -> str:
        return "cat /sys/module/nvidia/version 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() or None


class NvidiaKernelModuleFlavour(FactBase):
    """The flavour of the loaded nvidia kernel module, "open" or "proprietary", or None when none
    is loaded: the driver's own banner names the open one ("NVRM version: NVIDIA UNIX Open Kernel
    Module for x86_64  580.95.05 ...")."""

    def command(self) -> str:
        return "head -n 1 /proc/driver/nvidia/version 2>/dev/null || true"

    def process(self, output):
        banner = "".join(output).strip()
        if not banner:
            return None
        return "open" if "Open Kernel Module" in banner else "proprietary"


class NvidiaPciDevices(FactBase):
    """NVIDIA's display and 3D controllers on the PCI bus, [{"slot": "0000:17:00.0", "device":
    "2330"}], read from sysfs: there before any driver is installed, so the kernel module flavour
    can be chosen for the GPUs the server really has. (NVSwitches and audio functions are other
    PCI classes and are left out.)"""

    default = list

    def command(self) -> str:
        return ("for d in /sys/bus/pci/devices/*; do [ \"$(cat \"$d/vendor\" 2>/dev/null)\" = 0x10de ] || continue;"
                " case \"$(cat \"$d/class\")\" in 0x0300*|0x0302*) echo \"${d##*/} $(cat \"$d/device\")\";; esac; done")

    def process(self, output):
        devices = []
        for line in output:
            slot, _, device = line.strip().partition(" ")
            if slot and device:
                devices.append({"slot": slot, "device": device.removeprefix("0x").lower()})
        return devices


class NvidiaDriverPackage(FactBase):
    """The installed userspace driver ({"package": "libnvidia-compute-570-server", "version":
    "570.133.20"}), or None. Its version is what the loaded module must match."""

    def command(self) -> str:
        return ("dpkg-query -W -f='${Status}\\t${Package}\\t${Version}\\n' 'libnvidia-compute-*' libcuda1"
                " 2>/dev/null | grep '^install ok installed' || true")

    def process(self, output):
        found = []
        for line in output:
            _, package, version = line.strip().split("\t")
            upstream = version.split(":", 1)[-1].split("-", 1)[0]
            found.append({"package": package, "version": upstream})
        return max(found, key=lambda p: version_key(p["version"]), default=None)


class GpuContainerView(FactBase):
    """What a throwaway container of `image` sees with all GPUs requested:
    {"gpus": [names], "tensorflow": GPUs TensorFlow finds (None: no TensorFlow), "error": text}."""

    requires_command = "docker"

    # A GPU line only when nvidia-smi succeeds: it prints "No devices were found" and fails when
    # it sees none.
    PROBE = ("if out=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1); then printf '%s\\n' \"$out\""
             " | sed 's/^/gpu: /'; else printf '%s\\n' \"$out\"; fi;"
             " python -c 'import tensorflow as tf; print(\"tensorflow:\", len(tf.config.list_physical_devices(\"GPU\")))'"
             " 2>/dev/null || true")

    def command(self, image: str) -> str:
        # --pull never: the image is built here; a registry's namesake must never run instead.
        return (f"docker run --rm --pull never --gpus all {shlex.quote(image)} sh -c {shlex.quote(self.PROBE)}"
                " 2>&1 || true")

    def process(self, output):
        gpus, tensorflow, other = [], None, []
        for line in (line.strip() for line in output):
            if line.startswith("gpu: "):
                gpus.append(line.removeprefix("gpu: "))
            elif line.startswith("tensorflow: "):
                tensorflow = int(line.removeprefix("tensorflow: "))
            elif line:
                other.append(line.removeprefix("gpu: "))
        return {"gpus": gpus, "tensorflow": tensorflow, "error": " ".join(other)[-500:] or None}
