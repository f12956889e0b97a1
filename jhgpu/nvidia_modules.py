"""Which flavour of NVIDIA's kernel modules a host's GPUs need: "open" or "proprietary".
Decisions only, no I/O: PCI device ids in (the NvidiaPciDevices fact, readable before any driver
exists), a flavour out, tested per GPU generation in tests/test_nvidia_modules.py.

NVIDIA's rules:
- the open modules run Turing and newer GPUs only, "and this is what you should use if you have
  one of those architectures"; Maxwell, Pascal and Volta need the proprietary ones; "Starting in
  the 560 driver release series, the open kernel module flavor is the default and suggested
  installation" (Driver Installation Guide, Kernel Modules:
  https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/kernel-modules.html); the
  620 guide has the open modules alone (.../driver-installation-guide/620/kernel-modules.html);
- "For cutting-edge platforms such as NVIDIA Grace Hopper or NVIDIA Blackwell, you must use the
  open-source GPU kernel modules" (https://developer.nvidia.com/blog/nvidia-transitions-fully-
  towards-open-source-gpu-kernel-modules/); Blackwell's ids first appear in the 570 branch
  (570.86.15);
- "The release 580 series will be the last to support GPUs based on the Maxwell, Pascal, and
  Volta architectures" (https://forums.developer.nvidia.com/t/unix-graphics-feature-deprecation-schedule/60588).
Which GPUs the open modules know: jhgpu/data/open-kernel-module-gpus.txt, from the
open-gpu-kernel-modules README.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jhgpu.nvidia_branches import AUTO, GpuStackError

OPEN, PROPRIETARY = "open", "proprietary"
MODULE_SETTINGS = (AUTO, OPEN, PROPRIETARY)

OPEN_DEFAULT_FROM_BRANCH = 560
OPEN_ONLY_FROM_BRANCH = 620
BLACKWELL_FROM_BRANCH = 570
PRE_TURING_UNTIL_BRANCH = 580

# The README's list starts at TU102 (0x1e02); NVIDIA's earlier chips (GM1xx/GM2xx Maxwell,
# GP1xx Pascal, GV100 Volta) all have lower device ids, and every id from 0x2900 on in the list
# is a Blackwell chip. Grace Hopper (GH200) is open-only too.
FIRST_TURING_ID = 0x1E00
FIRST_BLACKWELL_ID = 0x2900
GRACE_HOPPER_IDS = frozenset({0x2342, 0x2348})

SUPPORTED_BY_OPEN_MODULES: dict[int, str] = {
    int(line[:4], 16): line[5:].strip()
    for line in (Path(__file__).parent / "data" / "open-kernel-module-gpus.txt").read_text().splitlines()
    if line and not line.startswith("#")
}


@dataclass(frozen=True)
class PciGpu:
    slot: str  # "0000:17:00.0"
    device: int  # the PCI device id: 0x2330

    @property
    def name(self) -> str:
        known = SUPPORTED_BY_OPEN_MODULES.get(self.device)
        return f"{known or 'NVIDIA GPU'} (10de:{self.device:04x} at {self.slot})"

    @property
    def generation(self) -> str:
        """"pre-turing", "turing" (Turing to Hopper: either flavour), "open-only" (Blackwell, Grace
        Hopper), or "unknown" (not in the list this project carries)."""
        if self.device < FIRST_TURING_ID:
            return "pre-turing"
        if self.device not in SUPPORTED_BY_OPEN_MODULES:
            return "unknown"
        return "open-only" if self.device >= FIRST_BLACKWELL_ID or self.device in GRACE_HOPPER_IDS else "turing"


def pci_gpus(devices: list[dict]) -> list[PciGpu]:
    """The NvidiaPciDevices fact ([{"slot", "device": "2330"}]) as PciGpu."""
    return [PciGpu(device["slot"], int(device["device"], 16)) for device in devices or []]


@dataclass(frozen=True)
class ModuleChoice:
    flavour: str  # OPEN or PROPRIETARY
    warnings: tuple[str, ...] = ()


def branch_default(branch: int) -> str:
    """NVIDIA's default flavour of a branch, for the GPUs that run either."""
    return OPEN if branch >= OPEN_DEFAULT_FROM_BRANCH else PROPRIETARY


def _names(gpus: list[PciGpu]) -> str:
    return ", ".join(gpu.name for gpu in gpus)


def choose_modules(setting: str, gpus: list[PciGpu], branch: int, loaded: str | None = None,
                   open_packaged_alike: bool = True) -> ModuleChoice:
    """The flavour for `gpus` on driver `branch`: the one set, or with "auto" the only one that
    runs them all (open for Blackwell and Grace Hopper, proprietary before Turing), else the
    flavour `loaded` now (no surprise switch), else for Turing to Hopper the open modules NVIDIA
    recommends where the OS updates them with the driver (`open_packaged_alike`), else the
    branch's default. Raises GpuStackError naming the GPUs no choice can run."""
    by_generation: dict[str, list[PciGpu]] = {}
    for gpu in gpus:
        by_generation.setdefault(gpu.generation, []).append(gpu)
    old, open_only = by_generation.get("pre-turing", []), by_generation.get("open-only", [])
    blackwell = [gpu for gpu in open_only if gpu.device >= FIRST_BLACKWELL_ID]
    problems = []
    if blackwell and branch < BLACKWELL_FROM_BRANCH:
        problems.append(f"{_names(blackwell)} need(s) driver branch {BLACKWELL_FROM_BRANCH} or newer, "
                        f"but the driver is the {branch} branch")
    if setting == PROPRIETARY and branch >= OPEN_ONLY_FROM_BRANCH:
        problems.append(f"nvidia_kernel_modules is 'proprietary', but the {branch} branch has open kernel modules only")
    if old and branch > PRE_TURING_UNTIL_BRANCH:
        problems.append(f"{_names(old)} (Maxwell, Pascal or Volta) need(s) driver branch "
                        f"{PRE_TURING_UNTIL_BRANCH} or older, but the driver is the {branch} branch")
    if setting == PROPRIETARY and open_only:
        problems.append(f"nvidia_kernel_modules is 'proprietary', but {_names(open_only)} run(s) on "
                        "NVIDIA's open kernel modules only")
    if setting == OPEN and old:
        problems.append(f"nvidia_kernel_modules is 'open', but {_names(old)} need(s) the proprietary modules")
    newer = [gpu for gpu in gpus if gpu.generation != "pre-turing"]
    if setting == AUTO and old and newer:
        hint = "" if open_only else " (set nvidia_kernel_modules = 'proprietary' to run them all on it)"
        problems.append(f"this host mixes GPUs that need the proprietary kernel modules ({_names(old)}) with "
                        f"GPUs for the open ones ({_names(newer)}){hint}")
    if problems:
        raise GpuStackError("; ".join(problems))
    if setting != AUTO:
        return ModuleChoice(setting)
    if old:
        return ModuleChoice(PROPRIETARY)
    if open_only:
        return ModuleChoice(OPEN)
    if loaded == OPEN or loaded == PROPRIETARY and branch < OPEN_ONLY_FROM_BRANCH:
        return ModuleChoice(loaded)
    default = branch_default(branch)
    if not by_generation.get("unknown") and gpus:  # all of them Turing to Hopper
        return ModuleChoice(OPEN if open_packaged_alike else default)
    unknown = by_generation.get("unknown", [])
    if unknown:
        return ModuleChoice(default, (f"{_names(unknown)} is not in NVIDIA's list of GPUs for the open kernel "
                                      f"modules that this deploy carries: using the {branch} branch's default, "
                                      f"the {default} modules (set nvidia_kernel_modules to choose)",))
    return ModuleChoice(default, (f"no NVIDIA GPU was found on the PCI bus: using the {branch} branch's "
                                  f"default, the {default} modules",))
