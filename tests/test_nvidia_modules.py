"""The kernel module flavour and the long-term branch, with recorded facts: facts in, commands out.

Each release's archive is tests/recorded_hosts.py's; the GPUs are PCI ids from the
open-gpu-kernel-modules README (580.142) and the PCI id database (the pre-Turing ones). No GPU and
no Ubuntu archive are here: this is what the deploy would run on such a server.
"""

from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

import pytest

from jhgpu.cuda import chain_cuda
from jhgpu.facts.nvidia import NvidiaKernelModuleFlavour, NvidiaPciDevices
from jhgpu.nvidia_branches import GpuStackError, choose_branch, offered_branches
from jhgpu.nvidia_modules import PciGpu, choose_modules
from jhgpu.platform import Release
from recorded import default_settings, run_deploy
from recorded_hosts import (A100, ARCHIVES, B200, DEBIAN_NON_FREE, GH200, H100, OS_RELEASES, P100, RTX_PRO_6000,
                            V100, fresh_host, modules, real, utils, with_archive, with_driver)
from test_nvidia import driver_packages, installs_a_driver, said, stops_for_reboot

GPUS = "jhgpu.facts.nvidia.NvidiaPciDevices"
UBUNTU_580 = [("ubuntu", "22.04"), ("ubuntu", "24.04")]  # the releases whose "auto" branch is 580
OLDER_BRANCH = [("ubuntu", "20.04"), ("debian", "12"), ("debian", "13")]  # 550, 535, 550


def with_gpus(distro: str, version: str, *gpus: dict) -> dict:
    return {**fresh_host(distro, version), GPUS: list(gpus)}


def flavour_of(packages: list[str]) -> str:
    return "open" if any(name.endswith("-open") or "-open-" in name for name in packages) else "proprietary"


# --- auto, per GPU generation and release ------------------------------------------------------------


@pytest.mark.parametrize("gpu", [H100, B200, RTX_PRO_6000], ids=["hopper", "b200", "rtx-pro-6000"])
@pytest.mark.parametrize("distro, version", UBUNTU_580)
def test_open_modules_for_hopper_and_blackwell_on_the_long_term_branch(distro, version, gpu):
    packages = driver_packages(run_deploy(with_gpus(distro, version, gpu)))
    assert packages == ["nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server",
                        "linux-modules-nvidia-580-server-open-generic"]


def test_hopper_gets_the_open_modules_on_ubuntu_20_04s_550_too():
    # Ubuntu builds both flavours from one source package, so the open ones follow every update;
    # 20.04 lists no signed open modules: DKMS builds them.
    assert driver_packages(run_deploy(with_gpus("ubuntu", "20.04", H100))) == [
        "nvidia-headless-550-server-open", "nvidia-utils-550-server"]


@pytest.mark.parametrize("distro, version", [("debian", "12"), ("debian", "13")])
def test_hopper_on_debian_gets_the_branchs_default_the_proprietary_modules(distro, version):
    """Debian updates its driver in -security without its open modules (bookworm: 535.309.01 vs
    535.261.03), and its 535/550 predate the open default (560)."""
    packages = driver_packages(run_deploy(with_gpus(distro, version, H100)))
    assert "nvidia-kernel-dkms" in packages and "nvidia-open-kernel-dkms" not in packages


@pytest.mark.parametrize("distro, version", OLDER_BRANCH)
def test_blackwell_where_no_branch_runs_it_is_refused_naming_the_gpu(distro, version):
    with pytest.raises(GpuStackError) as error:
        run_deploy(with_gpus(distro, version, B200))
    message = str(error.value)
    assert "NVIDIA B200 (10de:2901 at 0000:17:00.0) need(s) driver branch 570 or newer" in message
    assert "archive offers driver branch(es)" in message


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
@pytest.mark.parametrize("gpu", [P100, V100], ids=["pascal", "volta"])
def test_pascal_and_volta_get_the_proprietary_modules_on_every_release(distro, version, gpu):
    packages = driver_packages(run_deploy(with_gpus(distro, version, gpu)))
    assert flavour_of(packages) == "proprietary"
    if distro == "ubuntu" and version != "20.04":
        assert "nvidia-utils-580-server" in packages  # the last branch for Maxwell to Volta


def test_a_pre_turing_gpu_on_a_branch_past_580_is_refused():
    with pytest.raises(GpuStackError, match="Pascal or Volta\\) need\\(s\\) driver branch 580 or older, but the "
                                            "driver is the 595 branch"):
        run_deploy(with_gpus("ubuntu", "24.04", P100), nvidia_driver_branch="595")


def test_grace_hopper_runs_on_open_modules_only():
    assert flavour_of(driver_packages(run_deploy(with_gpus("ubuntu", "24.04", GH200)))) == "open"
    with pytest.raises(GpuStackError, match="NVIDIA GH200 120GB .* run\\(s\\) on NVIDIA's open kernel modules only"):
        run_deploy(with_gpus("ubuntu", "24.04", GH200), nvidia_kernel_modules="proprietary")


def test_a_host_mixing_both_kinds_is_refused_naming_them_and_proprietary_runs_them_all():
    facts = with_gpus("ubuntu", "24.04", P100, H100)
    with pytest.raises(GpuStackError) as error:
        run_deploy(facts)
    message = str(error.value)
    assert "mixes GPUs that need the proprietary kernel modules (NVIDIA GPU (10de:15f8 at 0000:3b:00.0))" in message
    assert "with GPUs for the open ones (NVIDIA H100 80GB HBM3 (10de:2330 at 0000:17:00.0))" in message
    assert "set nvidia_kernel_modules = 'proprietary'" in message
    assert flavour_of(driver_packages(run_deploy(facts, nvidia_kernel_modules="proprietary"))) == "proprietary"
    with pytest.raises(GpuStackError, match="mixes GPUs"):
        run_deploy(with_gpus("ubuntu", "24.04", P100, B200))


def test_a_gpu_nvidias_list_does_not_know_gets_the_branchs_default_with_a_warning(caplog):
    caplog.set_level(logging.INFO)
    unknown = {"slot": "0000:17:00.0", "device": "2fff"}
    packages = driver_packages(run_deploy(with_gpus("ubuntu", "24.04", unknown)))
    assert flavour_of(packages) == "open"
    assert ("NVIDIA GPU (10de:2fff at 0000:17:00.0) is not in NVIDIA's list of GPUs for the open kernel modules"
            in said(caplog, logging.WARNING))
    assert "using the 580 branch's default, the open modules" in said(caplog, logging.WARNING)


# --- explicit settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("distro, version", UBUNTU_580)
@pytest.mark.parametrize("gpu", [B200, RTX_PRO_6000], ids=["b200", "rtx-pro-6000"])
def test_proprietary_with_a_blackwell_gpu_is_refused_before_any_change(distro, version, gpu):
    facts = with_gpus(distro, version, gpu)
    with pytest.raises(GpuStackError) as error:
        run_deploy(facts, nvidia_kernel_modules="proprietary")
    assert "impossible GPU setup for host '@fake/recorded'" in str(error.value)
    assert "nvidia_kernel_modules is 'proprietary', but NVIDIA" in str(error.value)
    assert "run(s) on NVIDIA's open kernel modules only" in str(error.value)


def test_open_with_a_pascal_gpu_is_refused():
    with pytest.raises(GpuStackError, match="nvidia_kernel_modules is 'open', but NVIDIA GPU \\(10de:15f8"):
        run_deploy(with_gpus("ubuntu", "24.04", P100), nvidia_kernel_modules="open")


def test_open_on_debian_13_uses_its_open_modules_package():
    debian = driver_packages(run_deploy(with_archive(with_gpus("debian", "13", H100), DEBIAN_NON_FREE[("debian", "13")]),
                                        nvidia_kernel_modules="open"))
    assert "nvidia-open-kernel-dkms" in debian and "nvidia-kernel-dkms" not in debian


def test_open_on_debian_12_is_refused_while_its_open_modules_lag_the_security_update():
    facts = with_archive(with_gpus("debian", "12", H100), DEBIAN_NON_FREE[("debian", "12")])
    with pytest.raises(GpuStackError, match="nvidia-open-kernel-dkms is 535.261.03-1 while its driver is "
                                            "535.309.01-0\\+deb12u1"):
        run_deploy(facts, nvidia_kernel_modules="open")


def test_the_proprietary_setting_on_an_open_only_branch_is_refused():
    archive = {utils("620"): real("620.20.01-0ubuntu0.24.04.1"), modules("620", "open-generic"): real("6.8.0-150.150")}
    with pytest.raises(GpuStackError, match="the 620 branch has open kernel modules only"):
        run_deploy(with_archive(with_gpus("ubuntu", "24.04", H100), archive), nvidia_driver_branch="620",
                   nvidia_kernel_modules="proprietary")


# --- a flavour switch converges --------------------------------------------------------------------


def test_switching_an_installed_host_to_open_modules_swaps_the_packages_at_once_and_reboots_once():
    proprietary = ["nvidia-headless-no-dkms-580-server", utils("580"), modules("580")]
    host = with_driver(with_gpus("ubuntu", "24.04", H100), proprietary, "580.173.02", "580.173.02")
    # auto keeps the flavour the host runs: no surprise switch.
    commands = run_deploy(host)
    assert not installs_a_driver(commands) and not stops_for_reboot(commands)

    commands = run_deploy(host, nvidia_kernel_modules="open")
    swap = next(c for c in commands if "nvidia-headless-no-dkms-580-server-open" in c)
    assert swap.endswith("install nvidia-headless-no-dkms-580-server-open linux-modules-nvidia-580-server-open-generic "
                         "nvidia-headless-no-dkms-580-server- linux-modules-nvidia-580-server-generic-")
    assert "the NVIDIA 580 driver is being installed (open kernel modules" in stops_for_reboot(commands)

    installed = with_driver(with_gpus("ubuntu", "24.04", H100), [
        "nvidia-headless-no-dkms-580-server-open", utils("580"), modules("580", "open-generic")], "580.173.02", None)
    installed["jhgpu.facts.nvidia.NvidiaKernelModule"] = "580.173.02"  # rebooted, but the old flavour came up
    installed["jhgpu.facts.nvidia.NvidiaKernelModuleFlavour"] = "proprietary"
    assert "the loaded kernel module is the proprietary flavour" in stops_for_reboot(
        run_deploy(installed, nvidia_kernel_modules="open"))
    installed["jhgpu.facts.nvidia.NvidiaKernelModuleFlavour"] = "open"
    commands = run_deploy(installed, nvidia_kernel_modules="open")
    assert not installs_a_driver(commands) and not stops_for_reboot(commands)


# --- the long-term branch ----------------------------------------------------------------------------


def offered(version: str, extra: dict | None = None):
    return offered_branches(Release("ubuntu", version, OS_RELEASES[("ubuntu", version)][0]),
                            {**ARCHIVES[("ubuntu", version)], **(extra or {})})


def choose(version: str, today: datetime.date, installed: dict | None = None, extra: dict | None = None):
    release = Release("ubuntu", version, OS_RELEASES[("ubuntu", version)][0])
    return choose_branch(release, "auto", offered(version, extra), installed or {}, None,
                         chain_cuda(SimpleNamespace(**default_settings())), today).branch


def test_auto_prefers_the_long_term_branch_and_keeps_a_supported_one_the_host_runs():
    today = datetime.date(2026, 11, 30)
    assert choose("24.04", today).name == "580"  # not 595, a Production Branch ending March 2027
    assert choose("24.04", today, installed={utils("595"): {"595.71.05"}}).name == "595"  # kept while supported
    assert choose("24.04", datetime.date(2027, 4, 1), installed={utils("595"): {"595.71.05"}}).name == "580"
    # A 570 still packaged as a real branch, installed past its end (February 2026), moves to 580.
    assert choose("22.04", today, installed={utils("570"): {"570.211.01"}}).name == "580"
    # 620, the next long-term branch, once the archive carries it.
    assert choose("24.04", today, extra={utils("620"): real("620.20.01-0ubuntu0.24.04.1")}).name == "620"
    # 20.04 offers no supported long-term branch: the newest that runs the images, as before.
    assert choose("20.04", today).name == "550"


# --- the facts -------------------------------------------------------------------------------------


def test_pci_devices_fact_keeps_nvidias_gpus_as_ids():
    # `echo "<slot> $(cat device)"` lines, as the fact's command prints them (constructed).
    assert NvidiaPciDevices().process(["0000:17:00.0 0x2330", "0000:65:00.0 0x2BB1"]) == [
        {"slot": "0000:17:00.0", "device": "2330"}, {"slot": "0000:65:00.0", "device": "2bb1"}]
    gpus = [PciGpu("0000:17:00.0", 0x2330), PciGpu("0000:65:00.0", 0x2BB1)]
    assert [gpu.generation for gpu in gpus] == ["turing", "open-only"]
    assert choose_modules("auto", gpus, 580).flavour == "open"


def test_kernel_module_flavour_fact_reads_the_drivers_banner():
    # /proc/driver/nvidia/version's first line for each flavour (constructed from the driver's banner format).
    assert NvidiaKernelModuleFlavour().process(
        ["NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  (dvs-builder@U22)"]) == "open"
    assert NvidiaKernelModuleFlavour().process(
        ["NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.261.03  Wed Jul 30 2025"]) == "proprietary"
    assert NvidiaKernelModuleFlavour().process([]) is None
