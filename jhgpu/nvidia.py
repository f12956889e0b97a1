"""The NVIDIA driver and container runtime: which packages, whether a reboot is due. Decisions
only, no I/O: everything takes settings, an OS release and facts, so each OS and each driver state
is tested with recorded facts (tests/test_nvidia.py). Which branch is jhgpu/nvidia_branches.py's,
which kernel module flavour jhgpu/nvidia_modules.py's, which driver runs which CUDA jhgpu/cuda.py's.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from dataclasses import dataclass

from pyinfra.facts.deb import DebPackages

from jhgpu.apt_sources import WantedSuite, lines_adding
from jhgpu.cuda import ImageCuda, chain_cuda, judge_driver
from jhgpu.facts.apt import AptCandidates, OtherAptSources
from jhgpu.facts.nvidia import NvidiaDriverPackage, NvidiaKernelModuleFlavour, NvidiaPciDevices
from jhgpu.nvidia_branches import CANDIDATES_PATTERN, Branch, GpuStackError, choose_branch, offered_branches
from jhgpu.nvidia_modules import OPEN, PROPRIETARY, ModuleChoice, PciGpu, choose_modules, pci_gpus
from jhgpu.platform import Release, release_of

FLAVOURS = ("headless", "server")


# --- which packages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverPlan:
    packages: tuple[str, ...]
    branch: str  # the branch that runs
    modules: str = PROPRIETARY  # the kernel module flavour: "open" or "proprietary"
    removed: tuple[str, ...] = ()  # installed packages of the other flavour, removed in the same apt run
    sources: tuple[str, ...] | None = None  # Debian: the lines of the deploy's own apt source file


def ubuntu_signed_modules(branch: str, modules: str, packages: dict, candidates: dict) -> str | None:
    """Canonical's prebuilt, signed module metapackage for the host's kernel
    (linux-modules-nvidia-<branch>-server[-open]-<kernel>, following the installed kernel
    metapackage linux-<kernel>: generic, generic-hwe-22.04, lowlatency, aws, azure, gcp, oracle,
    ibm, ...), or None where the archive has none for it: DKMS builds the module instead."""
    prefix = f"linux-modules-nvidia-{branch}-server-{'open-' if modules == OPEN else ''}"
    kernels = [name.removeprefix(prefix) for name in candidates if name.startswith(prefix)]
    # An HWE kernel ("generic-hwe-22.04") before the plain one it also matches.
    for kernel in sorted(kernels, key=len, reverse=True):
        if f"linux-{kernel}" in packages or f"linux-image-{kernel}" in packages:
            return prefix + kernel
    return None


def debian_kernel_headers(packages: dict) -> tuple[str, ...]:
    """Headers for DKMS that follow the installed kernel metapackage(s): linux-image-amd64 ->
    linux-headers-amd64, linux-image-cloud-amd64 -> linux-headers-cloud-amd64."""
    headers = sorted(f"linux-headers-{name.removeprefix('linux-image-')}" for name in packages
                     if re.fullmatch(r"linux-image-[a-z][a-z0-9-]*", name))
    return tuple(headers) or ("linux-headers-amd64",)


DEBIAN_DKMS = {OPEN: "nvidia-open-kernel-dkms", PROPRIETARY: "nvidia-kernel-dkms"}


def _module_packages(release: Release, branch: str, modules: str, packages: dict, candidates: dict) -> tuple[str, ...]:
    """The packages that carry the kernel modules of one flavour (what a flavour switch removes)."""
    if release.distro == "debian":
        return (DEBIAN_DKMS[modules],)
    suffix = "-open" if modules == OPEN else ""
    signed = ubuntu_signed_modules(branch, modules, packages, candidates)
    return (f"nvidia-headless-no-dkms-{branch}-server{suffix}", f"nvidia-headless-{branch}-server{suffix}",
            f"nvidia-driver-{branch}-server{suffix}", f"nvidia-dkms-{branch}-server{suffix}",
            *((signed,) if signed else ()))


def driver_plan(release: Release, branch: Branch, flavour: str, modules: str, packages: dict,
                candidates: dict) -> DriverPlan:
    """The packages of `branch` in `flavour` ("headless" or "server") with kernel modules
    `modules` ("open" or "proprietary"); the other flavour's module packages, where installed, go
    in the same apt run (two nvidia.ko cannot both load)."""
    # A transitional branch installs its successor: name the successor's packages directly.
    name, other = branch.runs, (PROPRIETARY if modules == OPEN else OPEN)
    if release.distro == "debian":
        # DKMS builds the module against the running kernel's headers.
        common = ("firmware-nvidia-gsp", *debian_kernel_headers(packages), DEBIAN_DKMS[modules])
        chosen = ("nvidia-smi", "libcuda1", "libnvidia-ml1") if flavour == "headless" else ("nvidia-driver",)
        wanted = common + chosen
    else:
        suffix = "-open" if modules == OPEN else ""
        signed = ubuntu_signed_modules(name, modules, packages, candidates)
        if flavour == "headless":
            chosen = (f"nvidia-headless-no-dkms-{name}-server{suffix}" if signed
                      else f"nvidia-headless-{name}-server{suffix}", f"nvidia-utils-{name}-server")
        else:
            chosen = (f"nvidia-driver-{name}-server{suffix}",)
        wanted = chosen + ((signed,) if signed else ())
    removed = tuple(package for package in _module_packages(release, name, other, packages, candidates)
                    if package in packages and package not in wanted)
    return DriverPlan(packages=wanted, branch=name, modules=modules, removed=removed)


DEBIAN_DRIVER_COMPONENTS = ("main", "contrib", "non-free", "non-free-firmware")
DEBIAN_DRIVER_SOURCE = "debian-nvidia-driver"  # /etc/apt/sources.list.d/<this>.list
DEBIAN_DRIVER_SOURCE_HEADER = "# What Debian's NVIDIA driver needs beyond the host's other apt sources (written by the deploy)"


def debian_driver_sources(release: Release, mirror: str, security_mirror: str, existing: list) -> list[str]:
    """Apt lines for Debian's driver: contrib (the open modules), non-free and non-free-firmware of
    the release, its -updates and its -security suite, beside what the host's sources already
    name (jhgpu/apt_sources.py). NVIDIA's Debian packages get their fixes in -security
    (bookworm-security carries 535.309.01-0+deb12u1 where bookworm has 535.261.03-1; checked with
    apt-cache policy against Debian's archive, 2026-11): without it apt mixes versions
    (firmware-nvidia-gsp from -security, nvidia-kernel-dkms from the release) and gives up, or
    installs the unpatched driver."""
    wanted = [WantedSuite(mirror, release.codename, DEBIAN_DRIVER_COMPONENTS),
              WantedSuite(mirror, f"{release.codename}-updates", DEBIAN_DRIVER_COMPONENTS),
              WantedSuite(security_mirror, f"{release.codename}-security", DEBIAN_DRIVER_COMPONENTS)]
    return [DEBIAN_DRIVER_SOURCE_HEADER, *lines_adding(wanted, existing)]


def reboot_reason(plan: DriverPlan, installed_packages: dict, installed_driver: str | None,
                  loaded_module: str | None, loaded_flavour: str | None = None) -> str | None:
    """Why the host must reboot before its driver works, or None when it runs. Judged by what
    is installed and loaded (NvidiaDriverPackage, NvidiaKernelModule and NvidiaKernelModuleFlavour
    facts), never by the branch in a package's name."""
    missing = [name for name in plan.packages if name not in installed_packages]
    if missing or plan.removed:
        changes = missing + [f"{name} removed" for name in plan.removed]
        return f"the NVIDIA {plan.branch} driver is being installed ({plan.modules} kernel modules: {', '.join(changes)})"
    if loaded_module is None:
        return f"driver {installed_driver} is installed but its kernel module is not loaded"
    if installed_driver and loaded_module != installed_driver:
        return (f"Driver/library version mismatch: the loaded kernel module is {loaded_module}, "
                f"the installed driver is {installed_driver}")
    if loaded_flavour and loaded_flavour != plan.modules:
        return f"the loaded kernel module is the {loaded_flavour} flavour, the installed one is {plan.modules}"
    return None


# --- the container toolkit ---------------------------------------------------------------------

# NVIDIA's install guide pins these four together; from 1.18.0 the libnvidia-container libraries
# must match the toolkit's version exactly
# (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html).
TOOLKIT_PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
                    "libnvidia-container1")


def toolkit_packages(version: str) -> list[str]:
    """The toolkit's packages at `version` ("1.20.0-1"; a bare "1.20.0" gets NVIDIA's "-1")."""
    full = version if "-" in version else f"{version}-1"
    return [f"{name}={full}" for name in TOOLKIT_PACKAGES]


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


@dataclass(frozen=True)
class GpuPlan:
    """What the preflight decided for one host's driver."""

    branch: Branch | None  # the branch to install; None: the driver is left alone
    modules: str = PROPRIETARY  # the kernel module flavour it installs
    notes: tuple[str, ...] = ()  # said to the admin (info)
    warnings: tuple[str, ...] = ()  # images that run with reduced compatibility, GPUs not in NVIDIA's list


@dataclass(frozen=True)
class DriverFacts:
    """What the driver decisions read from a host."""

    candidates: dict  # AptCandidates of CANDIDATES_PATTERN
    installed: dict  # DebPackages
    driver: dict | None  # NvidiaDriverPackage
    gpus: list[PciGpu]  # NvidiaPciDevices
    loaded_flavour: str | None = None  # NvidiaKernelModuleFlavour


def _open_modules_lag(release: Release, candidates: dict) -> str | None:
    """Why Debian's open modules cannot go with its driver: a security update of the driver that
    the open modules' package has not had (bookworm, 2026-11)."""
    dkms, open_dkms = (candidates.get(name, {}).get("version") for name in (DEBIAN_DKMS[PROPRIETARY], DEBIAN_DKMS[OPEN]))
    if release.distro == "debian" and dkms and open_dkms and dkms != open_dkms:
        return (f"nvidia_kernel_modules is 'open', but {release}'s nvidia-open-kernel-dkms is {open_dkms} while its "
                f"driver is {dkms}: Debian has not built the open modules for that update")
    return None


def gpu_plan(release: Release, setting: str | None, flavour: str, module_setting: str, facts: DriverFacts,
             images: list[ImageCuda], today: datetime.date) -> GpuPlan:
    """Choose the driver and its kernel module flavour for the host's GPUs, and judge every image's
    CUDA against the driver that will run: the installed one where the chosen packages are
    already in place, else what apt would install. Raises GpuStackError naming each problem."""
    notes, branch, modules = [], None, ModuleChoice(PROPRIETARY)

    def runs_gpus(candidate: Branch) -> str | None:
        try:
            choose_modules(module_setting, facts.gpus, int(candidate.runs))
        except GpuStackError as error:
            return str(error)
        return None

    if setting is not None:
        choice = choose_branch(release, setting, offered_branches(release, facts.candidates), facts.installed,
                               facts.driver, images, today, runs_gpus)
        branch = choice.branch
        notes += [choice.note] if choice.note else []
    if branch is None and facts.driver is None:
        raise GpuStackError("nvidia_driver_branch is None (the driver is left to you), but no NVIDIA driver "
                            "is installed")
    if branch is None:
        driver, source = facts.driver["version"], "the host's driver"
    else:
        # Debian updates its driver in -security without its open modules (bookworm, 2026-11), and
        # a first run cannot see contrib yet to compare: Debian gets the branch's default there.
        modules = choose_modules(module_setting, facts.gpus, int(branch.runs), facts.loaded_flavour,
                                 open_packaged_alike=release.distro != "debian")
        if modules.flavour == OPEN and (lag := _open_modules_lag(release, facts.candidates)):
            raise GpuStackError(lag)
        plan = driver_plan(release, branch, flavour, modules.flavour, facts.installed, facts.candidates)
        in_place = facts.driver and all(name in facts.installed for name in plan.packages)
        driver, source = ((facts.driver["version"], "the installed driver") if in_place
                          else (branch.version, f"the {branch.name} branch in the archive"))
    verdict = judge_driver(images, driver, source)
    if verdict.refusals:
        raise GpuStackError("\n  - ".join(verdict.refusals))
    return GpuPlan(branch, modules.flavour, tuple(notes), modules.warnings + tuple(verdict.warnings))


# --- the same decisions for the host being deployed (facts read through pyinfra) ---------------


def host_driver_facts(host) -> DriverFacts:
    return DriverFacts(host.get_fact(AptCandidates, pattern=CANDIDATES_PATTERN), host.get_fact(DebPackages),
                       host.get_fact(NvidiaDriverPackage), pci_gpus(host.get_fact(NvidiaPciDevices)),
                       host.get_fact(NvidiaKernelModuleFlavour))


def gpu_plan_of(host, release: Release, facts: DriverFacts | None = None) -> GpuPlan:
    """The preflight's decision for this host; `facts`: host_driver_facts, if already read."""
    return gpu_plan(release, host.data.nvidia_driver_branch, host.data.nvidia_driver_flavour,
                    host.data.nvidia_kernel_modules, facts or host_driver_facts(host), chain_cuda(host.data),
                    datetime.date.today())


def driver_plan_of(host) -> tuple[DriverPlan | None, DriverFacts]:
    """The driver step's plan for this host (None: the driver is left alone), and the facts it read."""
    release = release_of(host)
    facts = host_driver_facts(host)
    choice = gpu_plan_of(host, release, facts)
    if choice.branch is None:
        return None, facts
    plan = driver_plan(release, choice.branch, host.data.nvidia_driver_flavour, choice.modules, facts.installed,
                       facts.candidates)
    if release.distro == "debian":
        existing = host.get_fact(OtherAptSources, besides=f"/etc/apt/sources.list.d/{DEBIAN_DRIVER_SOURCE}.list")
        plan = dataclasses.replace(plan, sources=tuple(debian_driver_sources(
            release, host.data.debian_mirror_url, host.data.debian_security_mirror_url, existing)))
    return plan, facts
