"""Which NVIDIA driver branch a host gets: the one set, or with "auto" one its archive really
offers that runs every notebook image and every GPU, preferring NVIDIA's long-term branches.
Decisions only, no I/O (tests/test_nvidia.py, with recorded archives). Which packages install
it is jhgpu/nvidia.py's; which driver runs which CUDA, jhgpu/cuda.py's.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Callable

from pyinfra.api.exceptions import PyinfraError

from jhgpu.cuda import ImageCuda, judge_driver, major
from jhgpu.platform import Release

AUTO = "auto"

# What the AptCandidates fact asks the host's archive about: Ubuntu's "-server" driver branches
# (their nvidia-utils package stands for the branch), Canonical's prebuilt signed module
# metapackages (open flavour: "-server-open-<kernel>"), and Debian's driver (one branch per
# release, in non-free; its open modules in contrib).
CANDIDATES_PATTERN = (r"^(nvidia-utils-[0-9]+-server|linux-modules-nvidia-[0-9]+-server-[a-z][a-z0-9.-]*"
                      r"|nvidia-kernel-dkms|nvidia-open-kernel-dkms)$")

# Debian's branch per release, for a host whose apt sources lack non-free yet (the deploy adds
# them): nvidia-graphics-drivers in bookworm is 535.x, in trixie 550.x
# (https://packages.debian.org/bookworm/nvidia-driver, https://packages.debian.org/trixie/nvidia-driver).
# Once non-free is enabled the host's own apt candidate is used instead.
DEBIAN_BRANCH = {"12": "535", "13": "550"}


# NVIDIA's data-center driver lifecycle: each Long-Term Support Branch (LTSB, three years) and
# Production Branch (PB, one year) with the month its support ends. New Feature Branches are not
# listed: short-lived, no end of life. Sources: "Supported Drivers and CUDA Toolkit Versions",
# https://docs.nvidia.com/datacenter/tesla/drivers/620/supported-drivers-and-cuda-toolkit-versions.html
# (R580 LTSB June 2028, R595 PB March 2027, R620 LTSB September 2029) and its unversioned edition
# (.../tesla/drivers/supported-drivers-and-cuda-toolkit-versions.html: R535 LTSB June 2026, R570
# PB February 2026, "R550 ... are end of life", no date given: marked ended).
ENDED = datetime.date.min
LTSB, PB = "Long-Term Support Branch", "Production Branch"
LIFECYCLE: dict[str, tuple[str, datetime.date]] = {
    "535": (LTSB, datetime.date(2026, 6, 30)),
    "550": (PB, ENDED),
    "570": (PB, datetime.date(2026, 2, 28)),
    "580": (LTSB, datetime.date(2028, 6, 30)),
    "595": (PB, datetime.date(2027, 3, 31)),
    "620": (LTSB, datetime.date(2029, 9, 30)),
}


def supported(branch: str, today: datetime.date) -> bool:
    """Whether NVIDIA still supports `branch` (one the table does not list counts as supported)."""
    return branch not in LIFECYCLE or LIFECYCLE[branch][1] >= today


def long_term(branch: str, today: datetime.date) -> bool:
    return branch in LIFECYCLE and LIFECYCLE[branch][0] == LTSB and supported(branch, today)


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
                  installed_driver: dict | None, images: list[ImageCuda], today: datetime.date,
                  runs_gpus: Callable[[Branch], str | None] = lambda branch: None) -> BranchChoice:
    """The branch to install: the one set, or with "auto", among the branches that run every
    image and every GPU (`runs_gpus`: why a branch cannot, or None): the one the host already
    runs while NVIDIA supports it, else the newest supported Long-Term Support Branch, else the
    newest real branch. A long-term branch needs the fewest forced moves on a shared server.
    Raises GpuStackError when none can."""
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
    runs_images = [b for b in offered.values() if not judge_driver(images, b.version, "").refusals]
    gpu_refusals = {b.name: runs_gpus(b) for b in runs_images}
    fitting = [b for b in runs_images if not gpu_refusals[b.name]]
    kept = [b for b in fitting if _utils_package(release, b.name) in installed_packages and supported(b.runs, today)]
    real = [b for b in fitting if not b.transitional]
    chosen = kept or [b for b in real if long_term(b.name, today)] or real
    if chosen:
        return BranchChoice(chosen[-1])
    needs = "; ".join(str(image) for image in images)
    reasons = "; ".join(f"{name}: {why}" for name, why in gpu_refusals.items() if why)
    if reasons:
        raise GpuStackError(f"no driver branch can run this host's GPUs ({reasons}): {_archive(release, offered)}")
    raise GpuStackError(f"no driver branch can run the notebook images ({needs}): {_archive(release, offered)}")


def _utils_package(release: Release, branch: str) -> str:
    return "nvidia-kernel-dkms" if release.distro == "debian" else f"nvidia-utils-{branch}-server"
