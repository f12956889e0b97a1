"""The NVIDIA driver and container runtime: which branch and packages, whether a reboot is due.
Decisions only, no I/O: everything takes settings, an OS release and facts, so each OS and each
driver state is tested with recorded facts (tests/test_nvidia.py). Which driver can run which
CUDA is in jhgpu/cuda.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.deb import DebPackages

from jhgpu.cuda import ImageCuda, chain_cuda, judge_driver, major
from jhgpu.facts.apt import AptCandidates
from jhgpu.facts.nvidia import NvidiaDriverPackage
from jhgpu.platform import Release

FLAVOURS = ("headless", "server")
AUTO = "auto"

# What the AptCandidates fact asks the host's archive about: Ubuntu's "-server" driver branches
# (their nvidia-utils package stands for the branch), Canonical's prebuilt signed module
# metapackages, and Debian's driver (one branch per release, in non-free).
CANDIDATES_PATTERN = (r"^(nvidia-utils-[0-9]+-server|linux-modules-nvidia-[0-9]+-server-[a-z][a-z0-9.-]*"
                      r"|nvidia-kernel-dkms)$")

# Debian's branch per release, for a host whose apt sources lack non-free yet (the deploy adds
# them): nvidia-graphics-drivers in bookworm is 535.x, in trixie 550.x
# (https://packages.debian.org/bookworm/nvidia-driver, https://packages.debian.org/trixie/nvidia-driver).
# Once non-free is enabled the host's own apt candidate is used instead.
DEBIAN_BRANCH = {"12": "535", "13": "550"}


class GpuStackError(PyinfraError):
    """A host's GPU settings cannot work; raised before anything on the host changes."""


# --- which branch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    name: str  # the branch in the package names: "570"
    version: str  # what apt installs for it: the candidate of its packages (a branch alone if unknown)
    runs: str  # the branch that really installs: "580" where 570 became a transitional package

    @property
    def transitional(self) -> bool:
        return self.runs != self.name


def offered_branches(release: Release, candidates: dict) -> dict[str, Branch]:
    """The driver branches the host's archive offers, from the AptCandidates fact.

    Ubuntu turns a retired "-server" branch into transitional packages that keep their own
    version and depend on a newer branch's packages (e.g. nvidia-utils-565-server ->
    nvidia-utils-580-server on 24.04: https://packages.ubuntu.com/noble/nvidia-utils-565-server),
    so a branch's real version is read through that dependency."""
    if release.distro == "debian":
        dkms = candidates.get("nvidia-kernel-dkms")
        if dkms:
            branch = str(major(dkms["version"]))
            return {branch: Branch(branch, dkms["version"], branch)}
        branch = DEBIAN_BRANCH[release.version]
        return {branch: Branch(branch, branch, branch)}
    offered = {}
    for name, candidate in candidates.items():
        match = re.fullmatch(r"nvidia-utils-(\d+)-server", name)
        if not match:
            continue
        target = next((m.group(1) for dep in candidate["depends"]
                       if (m := re.fullmatch(r"nvidia-utils-(\d+)-server", dep))), None)
        real = candidates.get(f"nvidia-utils-{target}-server") if target else None
        offered[match.group(1)] = (Branch(match.group(1), real["version"], target) if real
                                   else Branch(match.group(1), candidate["version"], match.group(1)))
    return dict(sorted(offered.items(), key=lambda item: int(item[0])))


def _archive(release: Release, offered: dict[str, Branch]) -> str:
    names = ", ".join(f"{b.name} (transitional to {b.runs})" if b.transitional else b.name for b in offered.values())
    return f"{release}'s archive offers driver branch(es) {names or 'none'} (read from the host's apt lists)"


@dataclass(frozen=True)
class BranchChoice:
    branch: Branch | None  # None: the driver is left alone
    note: str | None = None  # said to the admin: a transitional branch, a driver kept


def choose_branch(release: Release, setting: str, offered: dict[str, Branch], installed_packages: dict,
                  installed_driver: dict | None, images: list[ImageCuda]) -> BranchChoice:
    """The branch to install: the one set, or with "auto" the branch the host already runs (while
    the archive offers it and it runs every image), else the newest real branch that runs every
    image. Raises GpuStackError when none can."""
    if setting != AUTO:
        if setting not in offered:
            raise GpuStackError(f"nvidia_driver_branch is {setting!r}, but {_archive(release, offered)}")
        branch = offered[setting]
        note = (f"nvidia-utils-{branch.name}-server is a transitional package: this host runs the {branch.runs} "
                f"branch ({branch.version})") if branch.transitional else None
        return BranchChoice(branch, note)
    if installed_driver and release.distro == "ubuntu" and not installed_driver["package"].endswith("-server"):
        return BranchChoice(None, f"the host runs driver {installed_driver['version']} from "
                                  f"{installed_driver['package']}, not Ubuntu's -server packages: nvidia_driver_branch "
                                  "= 'auto' leaves it alone (set a branch to replace it)")
    runs_images = [b for b in offered.values()
                   if not judge_driver(images, b.version, "").refusals]
    kept = [b for b in runs_images if _utils_package(release, b.name) in installed_packages]
    if kept:
        return BranchChoice(kept[-1])
    real = [b for b in runs_images if not b.transitional]
    if real:
        return BranchChoice(real[-1])
    needs = "; ".join(str(image) for image in images)
    raise GpuStackError(f"no driver branch can run the notebook images ({needs}): {_archive(release, offered)}")


def _utils_package(release: Release, branch: str) -> str:
    return "nvidia-kernel-dkms" if release.distro == "debian" else f"nvidia-utils-{branch}-server"


# --- which packages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverPlan:
    packages: tuple[str, ...]
    branch: str  # the branch that runs
    sources: tuple[str, ...] = ()  # extra apt source lines (Debian's non-free components)


def ubuntu_signed_modules(branch: str, packages: dict, candidates: dict) -> str | None:
    """Canonical's prebuilt, signed module metapackage for the host's kernel
    (linux-modules-nvidia-<branch>-server-<flavour>, following the installed kernel metapackage
    linux-<flavour>: generic, generic-hwe-22.04, lowlatency, aws, azure, gcp, oracle, ibm, ...),
    or None where the archive has none for it: DKMS builds the module instead."""
    prefix = f"linux-modules-nvidia-{branch}-server-"
    flavours = sorted(name.removeprefix(prefix) for name in candidates if name.startswith(prefix))
    # An HWE kernel's flavour ("generic-hwe-22.04") before the plain one it also matches.
    for flavour in sorted(flavours, key=len, reverse=True):
        if f"linux-{flavour}" in packages or f"linux-image-{flavour}" in packages:
            return prefix + flavour
    return None


def debian_kernel_headers(packages: dict) -> tuple[str, ...]:
    """Headers for DKMS that follow the installed kernel metapackage(s): linux-image-amd64 ->
    linux-headers-amd64, linux-image-cloud-amd64 -> linux-headers-cloud-amd64."""
    headers = sorted(f"linux-headers-{name.removeprefix('linux-image-')}" for name in packages
                     if re.fullmatch(r"linux-image-[a-z][a-z0-9-]*", name))
    return tuple(headers) or ("linux-headers-amd64",)


def driver_plan(release: Release, branch: Branch, flavour: str, packages: dict, candidates: dict,
                debian_mirror: str) -> DriverPlan:
    if release.distro == "debian":
        # DKMS builds the module against the running kernel's headers.
        common = ("firmware-nvidia-gsp", *debian_kernel_headers(packages), "nvidia-kernel-dkms")
        chosen = ("nvidia-smi", "libcuda1", "libnvidia-ml1") if flavour == "headless" else ("nvidia-driver",)
        components = "contrib non-free non-free-firmware"
        sources = tuple(f"deb {debian_mirror} {suite} {components}"
                        for suite in (release.codename, f"{release.codename}-updates"))
        return DriverPlan(packages=common + chosen, branch=branch.runs, sources=sources)
    # A transitional branch installs its successor: name the successor's packages directly.
    name = branch.runs
    modules = ubuntu_signed_modules(name, packages, candidates)
    if flavour == "headless":
        chosen = (f"nvidia-headless-no-dkms-{name}-server" if modules else f"nvidia-headless-{name}-server",
                  f"nvidia-utils-{name}-server")
    else:
        chosen = (f"nvidia-driver-{name}-server",)
    return DriverPlan(packages=chosen + ((modules,) if modules else ()), branch=name)


def reboot_reason(plan: DriverPlan, installed_packages: dict, installed_driver: str | None,
                  loaded_module: str | None) -> str | None:
    """Why the host must reboot before its driver works, or None when it runs. Judged by what
    is installed and loaded (NvidiaDriverPackage and NvidiaKernelModule facts), never by the
    branch in a package's name."""
    missing = [name for name in plan.packages if name not in installed_packages]
    if missing:
        return f"the NVIDIA {plan.branch} driver is being installed ({', '.join(missing)})"
    if loaded_module is None:
        return f"driver {installed_driver} is installed but its kernel module is not loaded"
    if installed_driver and loaded_module != installed_driver:
        return (f"Driver/library version mismatch: the loaded kernel module is {loaded_module}, "
                f"the installed driver is {installed_driver}")
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
    notes: tuple[str, ...] = ()  # said to the admin (info)
    warnings: tuple[str, ...] = ()  # images that run with reduced compatibility


def gpu_plan(release: Release, setting: str | None, flavour: str, candidates: dict, installed_packages: dict,
             installed_driver: dict | None, images: list[ImageCuda]) -> GpuPlan:
    """Choose the driver and judge every image's CUDA against the driver that will run: the
    installed one where the chosen packages are already in place, else what apt would install.
    Raises GpuStackError naming each problem."""
    notes = []
    branch = None
    if setting is not None:
        choice = choose_branch(release, setting, offered_branches(release, candidates), installed_packages,
                               installed_driver, images)
        branch = choice.branch
        notes += [choice.note] if choice.note else []
    if branch is None and installed_driver is None:
        raise GpuStackError("nvidia_driver_branch is None (the driver is left to you), but no NVIDIA driver "
                            "is installed")
    if branch is None:
        driver, source = installed_driver["version"], "the host's driver"
    else:
        plan = driver_plan(release, branch, flavour, installed_packages, candidates, "")
        in_place = installed_driver and all(name in installed_packages for name in plan.packages)
        driver, source = ((installed_driver["version"], "the installed driver") if in_place
                          else (branch.version, f"the {branch.name} branch in the archive"))
    verdict = judge_driver(images, driver, source)
    if verdict.refusals:
        raise GpuStackError("\n  - ".join(verdict.refusals))
    return GpuPlan(branch, tuple(notes), tuple(verdict.warnings))


# --- the same decisions for the host being deployed (facts read through pyinfra) ---------------


def host_driver_facts(host) -> tuple[dict, dict, dict | None]:
    """The facts the driver decisions need: apt candidates, installed packages, installed driver."""
    return (host.get_fact(AptCandidates, pattern=CANDIDATES_PATTERN), host.get_fact(DebPackages),
            host.get_fact(NvidiaDriverPackage))


def gpu_plan_of(host, release: Release, facts: tuple[dict, dict, dict | None] | None = None) -> GpuPlan:
    """The preflight's decision for this host; `facts`: host_driver_facts, if already read."""
    candidates, installed, driver = facts or host_driver_facts(host)
    return gpu_plan(release, host.data.nvidia_driver_branch, host.data.nvidia_driver_flavour, candidates,
                    installed, driver, chain_cuda(host.data))
