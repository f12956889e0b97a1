"""Which NVIDIA drivers can run the CUDA the notebook images carry. Decisions only, no I/O.

NVIDIA's rules for a container (CUDA Compatibility guide, "Minor Version Compatibility":
https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html):
- any CUDA X.y runs on a driver at least as new as the floor of its major version X (minor
  version compatibility) ...
- ... but only the driver a toolkit release was packaged with (Table 3 of the CUDA Toolkit
  release notes) gives every feature of that release; between the two, applications that need a
  newer driver (new APIs, PTX compiled by the newer toolkit) may fail.
So an image below its floor is refused, and one between the floor and its packaged driver is a
warning. (Forward compatibility through the cuda-compat package, datacenter GPUs only, is not
counted on.)

Where each image's CUDA comes from: the root image's from its nvidia/cuda tag; an image of the
chain may declare its own ("cuda": "12.8", for CUDA that pip wheels bring, e.g. PyTorch cu128),
or upstream names it in the build context's folder (images/pytorch-notebook/cuda13 -> 13).
Every image carries its parent's CUDA too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Minimum driver for minor version compatibility, per CUDA major version (Linux x86_64). NVIDIA's
# guide, Table 1: 13.x ">= 580", 12.x ">= 525", 11.x ">= 450"; the exact 11.x floor is in its
# note (450.80.02), the 12.x one in its earlier editions and CUDA 12.0 GA's driver (525.60.13).
MINOR_VERSION_FLOOR = {11: "450.80.02", 12: "525.60.13", 13: "580"}

# The driver each toolkit release was packaged with (Linux x86_64): "CUDA Toolkit and
# Corresponding Driver Versions", Table 3 of the CUDA Toolkit release notes, 13.2 Update 2
# edition (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html). Keys are the
# versions in nvidia/cuda image tags: 12.8.1 is CUDA 12.8 Update 1. From CUDA 13.4 the Linux
# toolkit no longer bundles a driver, so newer releases have no row: only their floor counts.
PACKAGED_DRIVER = {
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
    "13.0.0": "580.65.06", "13.0.1": "580.82.07", "13.0.2": "580.95.05",
    "13.1.0": "590.44.01", "13.1.1": "590.48.01",
    "13.2.0": "595.45.04", "13.2.1": "595.58.03", "13.2.2": "595.71.05",
}


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", 1)[0]))


def major(version: str) -> int:
    return version_key(version)[0]


def cuda_version_of(image: str) -> str | None:
    """The CUDA version of an nvidia/cuda image reference ('nvidia/cuda:12.8.1-cudnn-...' ->
    '12.8.1'); None for an image that is not one."""
    match = re.fullmatch(r"(?:[^/]+/)*nvidia/cuda:(\d+\.\d+(?:\.\d+)?)(?:-.*)?", image)
    return match.group(1) if match else None


def cuda_of_context(context: str) -> str | None:
    """The CUDA major version upstream names in a build context ('images/pytorch-notebook/cuda13')."""
    match = re.search(r"(?:^|/)cuda(\d+)(?:/|$)", context)
    return match.group(1) if match else None


@dataclass(frozen=True)
class ImageCuda:
    image: str  # a notebook_images name, or notebook_root_image's reference
    cuda: str  # "12.8.1", "12.8" or "13"
    source: str  # where that was read, for messages

    @property
    def floor(self) -> str | None:
        return MINOR_VERSION_FLOOR.get(major(self.cuda))

    @property
    def packaged(self) -> str | None:
        parts = version_key(self.cuda)
        if len(parts) < 2:
            return None  # a major version alone: only its floor is known
        return PACKAGED_DRIVER.get(".".join(map(str, (parts + (0,))[:3])))

    def __str__(self) -> str:
        return f"{self.image} (CUDA {self.cuda}, {self.source})"


def chain_cuda(data) -> list[ImageCuda]:
    """The CUDA of the root image and of every image of the chain that brings its own."""
    found = []
    root = cuda_version_of(data.notebook_root_image)
    if root:
        found.append(ImageCuda(data.notebook_root_image, root, "its tag"))
    for image in data.notebook_images:
        if image.get("cuda"):
            found.append(ImageCuda(image["name"], image["cuda"], "declared in notebook_images"))
        elif image.get("context") and cuda_of_context(image["context"]):
            found.append(ImageCuda(image["name"], cuda_of_context(image["context"]),
                                   f"its build context {image['context']}"))
    return found


@dataclass(frozen=True)
class Verdict:
    refusals: list[str]
    warnings: list[str]


def judge_driver(images: list[ImageCuda], driver: str, driver_source: str) -> Verdict:
    """Can `driver` (a full version, or a branch like "535" standing for its newest release)
    run every image? `driver_source` says where that driver comes from, for the messages."""
    refusals, warnings = [], []
    branch_only = len(version_key(driver)) == 1

    def older_than(version: str) -> bool:
        # A branch alone stands for its newest release: only the major version counts.
        return major(driver) < major(version) if branch_only else version_key(driver) < version_key(version)

    for image in images:
        floor = image.floor
        if floor is None:
            refusals.append(f"{image} has no known minimum driver: CUDA {major(image.cuda)}.x is not in "
                            "jhgpu/cuda.py's MINOR_VERSION_FLOOR; add it from NVIDIA's CUDA Compatibility guide")
            continue
        if older_than(floor):
            refusals.append(f"{image} needs NVIDIA driver >= {floor} (CUDA {major(image.cuda)}.x minor version "
                            f"compatibility); {driver_source} is {driver}")
            continue
        packaged = image.packaged
        if packaged and older_than(packaged):
            warnings.append(f"{image} was released with NVIDIA driver >= {packaged}; {driver_source} is {driver}, "
                            f"above the CUDA {major(image.cuda)}.x floor {floor}, so it runs through minor version "
                            "compatibility: features that need a newer driver (new CUDA APIs, PTX built by the "
                            "newer toolkit) may fail")
    return Verdict(refusals, warnings)
