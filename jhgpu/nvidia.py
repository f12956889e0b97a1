"""The NVIDIA stack: which driver packages, whether a reboot is due, which CUDA images can run.
Decisions only, no I/O: everything takes settings, an OS release and facts, so each OS and each
driver state is tested with recorded facts (tests/test_nvidia.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError

from jhgpu.platform import Release

# Minimum Linux x86_64 driver for each CUDA toolkit release ("CUDA Toolkit and Corresponding
# Driver Versions", Table 3 of NVIDIA's CUDA Toolkit release notes:
# https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html). Keys are the versions in
# nvidia/cuda image tags: 12.8.1 is CUDA 12.8 Update 1. A CUDA image runs only on a driver at
# least this new (its NVIDIA_REQUIRE_CUDA is checked by the container toolkit).
CUDA_MINIMUM_DRIVER = {
    "11.8.0": "520.61.05",
    "12.0.0": "525.60.13", "12.0.1": "525.85.12",
    "12.1.0": "530.30.02", "12.1.1": "530.30.02",
    "12.2.0": "535.54.03", "12.2.1": "535.86.09", "12.2.2": "535.104.05",
    "12.3.0": "545.23.06", "12.3.1": "545.23.08", "12.3.2": "545.23.08",
    "12.4.0": "550.54.14", "12.4.1": "550.54.15",
    "12.5.0": "555.42.02", "12.5.1": "555.42.06",
    "12.6.0": "560.28.03", "12.6.1": "560.35.03", "12.6.2": "560.35.03", "12.6.3": "560.35.05",
    "12.8.0": "570.26", "12.8.1": "570.124.06",
    "12.9.0": "575.51.03", "12.9.1": "575.57.08",
    "13.0.0": "580.65.06", "13.0.1": "580.82.07",
}

# Debian 12 has one driver branch, in its non-free component (nvidia-graphics-drivers 535.x).
DEBIAN_12_BRANCH = "535"

FLAVOURS = ("headless", "server")


class GpuStackError(PyinfraError):
    """A host's GPU settings cannot work; raised before anything on the host changes."""


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def cuda_version_of(image: str) -> str | None:
    """The CUDA version of an nvidia/cuda image reference ('nvidia/cuda:12.8.1-cudnn-...' ->
    '12.8.1'); None for an image that is not one (its CUDA version is unknown here)."""
    match = re.fullmatch(r"(?:[^/]+/)*nvidia/cuda:(\d+\.\d+(?:\.\d+)?)(?:-.*)?", image)
    if not match:
        return None
    version = match.group(1)
    return version if version.count(".") == 2 else f"{version}.0"


def pairing_problem(image: str, branch: str, installed: str | None = None) -> str | None:
    """Why `image` cannot run on driver `branch` (or the exact `installed` version), or None.
    A branch satisfies a minimum of the same major version: its current release is newer."""
    cuda = cuda_version_of(image)
    if cuda is None:
        return None
    if cuda not in CUDA_MINIMUM_DRIVER:
        return (f"CUDA {cuda} is not in jhgpu/nvidia.py's table of minimum drivers (known: "
                f"{', '.join(CUDA_MINIMUM_DRIVER)}); add its row from NVIDIA's CUDA release notes")
    needed = CUDA_MINIMUM_DRIVER[cuda]
    if installed and version_key(installed)[0] == int(branch):
        if version_key(installed) < version_key(needed):
            return (f"notebook_root_image {image} is CUDA {cuda}, which needs NVIDIA driver >= {needed}; "
                    f"the host runs driver {installed}")
        return None
    if int(branch) < version_key(needed)[0]:
        return (f"notebook_root_image {image} is CUDA {cuda}, which needs NVIDIA driver >= {needed}; "
                f"nvidia_driver_branch is {branch!r} (driver {branch}.x)")
    return None


# --- the driver ------------------------------------------------------------------------------

# Ubuntu's kernel metapackages, and the suffix of the prebuilt, signed NVIDIA module packages
# (linux-modules-nvidia-<branch>-server-<suffix>) that follow the same kernels.
UBUNTU_KERNEL_FLAVOURS = ("generic", "lowlatency", "aws", "azure", "gcp", "oracle", "kvm")


def ubuntu_kernel_flavour(release: Release, packages: dict) -> str | None:
    """The suffix of the signed-module package for the host's kernel, or None (a kernel Ubuntu
    builds no signed NVIDIA modules for: DKMS builds them instead)."""
    for name in (f"linux-generic-hwe-{release.version}", f"linux-lowlatency-hwe-{release.version}"):
        if name in packages:
            return name.removeprefix("linux-")
    for flavour in UBUNTU_KERNEL_FLAVOURS:
        if f"linux-{flavour}" in packages:
            return flavour
    return None


@dataclass(frozen=True)
class DriverPlan:
    packages: tuple[str, ...]
    branch: str
    sources: tuple[str, ...] = ()  # extra apt source lines (Debian's non-free components)


def driver_plan(release: Release, branch: str, flavour: str, packages: dict, debian_mirror: str) -> DriverPlan:
    if release.distro == "debian":  # host_problems has refused any branch but Debian's
        # DKMS builds the module against the running kernel's headers.
        common = ("firmware-nvidia-gsp", "linux-headers-amd64", "nvidia-kernel-dkms")
        chosen = ("nvidia-smi", "libcuda1", "libnvidia-ml1") if flavour == "headless" else ("nvidia-driver",)
        components = "contrib non-free non-free-firmware"
        sources = tuple(f"deb {debian_mirror} {suite} {components}"
                        for suite in (release.codename, f"{release.codename}-updates"))
        return DriverPlan(packages=common + chosen, branch=branch, sources=sources)
    kernel = ubuntu_kernel_flavour(release, packages)
    if flavour == "headless":
        chosen = (f"nvidia-headless-no-dkms-{branch}-server" if kernel else f"nvidia-headless-{branch}-server",
                  f"nvidia-utils-{branch}-server")
    else:
        chosen = (f"nvidia-driver-{branch}-server",)
    modules = (f"linux-modules-nvidia-{branch}-server-{kernel}",) if kernel else ()
    return DriverPlan(packages=chosen + modules, branch=branch)


def reboot_reason(plan: DriverPlan, installed_packages: dict, installed_driver: str | None,
                  loaded_module: str | None) -> str | None:
    """Why the host must reboot before its driver works, or None when the wanted driver runs.
    installed_driver: the userspace driver's version (NvidiaDriverPackage fact); loaded_module:
    the running kernel module's (NvidiaKernelModule fact)."""
    missing = [name for name in plan.packages if name not in installed_packages]
    if missing:
        return f"the NVIDIA {plan.branch} driver is being installed ({', '.join(missing)})"
    if installed_driver and version_key(installed_driver)[0] != int(plan.branch):
        return f"driver {installed_driver} is installed, not the {plan.branch} branch"
    if loaded_module is None:
        return f"driver {installed_driver} is installed but its kernel module is not loaded"
    if installed_driver and loaded_module != installed_driver:
        return (f"Driver/library version mismatch: the loaded kernel module is {loaded_module}, "
                f"the installed driver is {installed_driver}")
    return None


# --- the container toolkit ---------------------------------------------------------------------

NVIDIA_RUNTIME = {"path": "nvidia-container-runtime", "args": []}


def daemon_json_with_nvidia_runtime(current: str | None) -> str | None:
    """Docker's daemon.json with the nvidia runtime added and every other key kept; None when the
    file already has it. A file that is not a JSON object is refused rather than overwritten."""
    config = {}
    if current and current.strip():
        try:
            config = json.loads(current)
        except ValueError as error:
            raise GpuStackError(f"/etc/docker/daemon.json is not valid JSON ({error}); fix it by hand")
        if not isinstance(config, dict):
            raise GpuStackError("/etc/docker/daemon.json is not a JSON object; fix it by hand")
    runtimes = config.get("runtimes") or {}
    if runtimes.get("nvidia") == NVIDIA_RUNTIME:
        return None
    config["runtimes"] = {**runtimes, "nvidia": NVIDIA_RUNTIME}
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def gpus_from_nvidia_smi(lines: list[str]) -> list[dict]:
    """Parse `nvidia-smi --query-gpu=index,name,uuid,memory.total,driver_version
    --format=csv,noheader,nounits`."""
    gpus = []
    for line in lines:
        if not line.strip():
            continue
        index, name, uuid, memory, driver = (part.strip() for part in line.split(","))
        gpus.append({"index": int(index), "name": name, "uuid": uuid, "memory_mib": int(memory),
                     "driver_version": driver})
    return gpus


def host_problems(release: Release, data, installed_driver: str | None) -> list[str]:
    """What makes the GPU settings impossible on this host: its OS, or the driver it runs now.
    (The configured branch alone is checked with the other settings, in jhgpu/settings.py.)"""
    if not data.gpu_enabled:
        return []
    branch = data.nvidia_driver_branch
    if branch is None and installed_driver is None:
        return ["nvidia_driver_branch is None (the driver is left to you), but no NVIDIA driver is installed"]
    running_branch = str(version_key(installed_driver)[0]) if installed_driver else None
    problems = []
    if release.distro == "debian" and branch not in (None, DEBIAN_12_BRANCH):  # None: a driver of yours
        problems.append(f"nvidia_driver_branch is {branch!r}, but Debian 12's non-free archive has only the "
                        f"{DEBIAN_12_BRANCH} branch: set nvidia_driver_branch = {DEBIAN_12_BRANCH!r} and a "
                        "notebook_root_image it can run (CUDA 12.2 or older)")
    if running_branch and running_branch == (branch or running_branch):  # the driver that will stay
        problem = pairing_problem(data.notebook_root_image, running_branch, installed_driver)
        if problem:
            problems.append(problem)
    return problems
