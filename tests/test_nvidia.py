"""The NVIDIA stack with recorded facts: facts in, commands out.

There is no GPU and no Ubuntu archive here, so each supported release is described by its facts
(tests/recorded_hosts.py: what each archive offers today, with sources in tests/fixtures/README.md)
and the real deploy.py is run through pyinfra's @fake connector.
"""

from __future__ import annotations

import logging
from pathlib import Path
from unittest import mock

import pytest

from jhgpu.facts.apt import AptCandidates

from jhgpu.facts.nvidia import NvidiaDriverPackage, NvidiaGpus, NvidiaKernelModule
from jhgpu.nvidia import daemon_json_with_nvidia_runtime
from jhgpu.nvidia_branches import GpuStackError
from jhgpu.platform import keyring_path
from jhgpu.settings import SettingsError
from recorded import run_deploy
from recorded_hosts import (ARCHIVES, DEBIAN_NON_FREE, OS_RELEASES, fresh_host, modules, transitional,
                            utils, with_archive, with_driver)

SAMPLES = Path(__file__).parent / "fixtures" / "nvidia"
APT_INSTALL = "apt-get -y -o Dpkg::Options::=\"--force-confdef\" -o Dpkg::Options::=\"--force-confold\" install"
UBUNTU = [version for distro, version in OS_RELEASES if distro == "ubuntu"]
# The branch "auto" installs on a fresh host: NVIDIA's long-term 580 where the archive has it (not
# the newer 595, a Production Branch ending March 2027), else the newest real branch on offer.
AUTO_BRANCH = {("ubuntu", "20.04"): "550", ("ubuntu", "22.04"): "580", ("ubuntu", "24.04"): "580",
               ("debian", "12"): "535", ("debian", "13"): "550"}
# The fresh hosts' A100 gets NVIDIA's open modules on Ubuntu ("-open" packages); 20.04's archive
# lists no signed open modules, so the signed-modules test asks for the proprietary ones there.
OPEN_SUFFIX = {"20.04": "", "22.04": "-open", "24.04": "-open"}
SIGNED_FLAVOUR = {"20.04": "proprietary", "22.04": "auto", "24.04": "auto"}
PYTORCH_CUDA13 = {"name": "pytorch-cuda13", "context": "images/pytorch-notebook/cuda13", "parent": "scipy-notebook",
                  "display_name": "PyTorch (CUDA 13)"}


def sample(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def installs(commands: list[str]) -> list[list[str]]:
    return [c.split(APT_INSTALL, 1)[1].split() for c in commands if APT_INSTALL in c]


def driver_packages(commands: list[str]) -> list[str]:
    """The driver install: the second apt-get install, after the base packages."""
    return installs(commands)[1]


def installs_a_driver(commands: list[str]) -> bool:
    return any(name.startswith(("nvidia-utils-", "nvidia-headless", "nvidia-driver", "nvidia-kernel-dkms",
                                "nvidia-open-kernel-dkms"))
               for packages in installs(commands) for name in packages)


def stops_for_reboot(commands: list[str]) -> str | None:
    return next((c for c in commands if "this host must reboot" in c), None)


def said(caplog, level=logging.INFO) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == level)


def converged(distro: str, version: str, archive_extra: dict | None = None, **settings) -> dict:
    """A host whose driver packages (those a fresh deploy installs) are in place and loaded."""
    facts = with_archive(fresh_host(distro, version), archive_extra or {})
    packages = driver_packages(run_deploy(facts, **settings))
    branch = AUTO_BRANCH[(distro, version)]
    return with_driver(facts, packages, f"{branch}.100.01", f"{branch}.100.01")


# --- the branch each release's archive offers ------------------------------------------------------


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_auto_installs_the_newest_branch_the_archive_really_offers(distro, version):
    branch = AUTO_BRANCH[(distro, version)]
    if distro == "ubuntu":
        offered = ARCHIVES[(distro, version)][utils(branch)]
        assert offered["depends"] == []  # a real branch, not a transitional one
    packages = driver_packages(run_deploy(fresh_host(distro, version)))
    wanted = f"nvidia-utils-{branch}-server" if distro == "ubuntu" else "nvidia-kernel-dkms"
    assert wanted in packages


@pytest.mark.parametrize("version", UBUNTU)
def test_ubuntu_gets_signed_modules_then_asks_for_a_reboot(version):
    branch, suffix = AUTO_BRANCH[("ubuntu", version)], OPEN_SUFFIX[version]
    commands = run_deploy(fresh_host("ubuntu", version), nvidia_kernel_modules=SIGNED_FLAVOUR[version])
    assert driver_packages(commands) == [f"nvidia-headless-no-dkms-{branch}-server{suffix}",
                                         f"nvidia-utils-{branch}-server",
                                         f"linux-modules-nvidia-{branch}-server{suffix}-generic"]
    stop = stops_for_reboot(commands)
    assert stop and f"the NVIDIA {branch} driver is being installed" in stop and "nvidia_allow_reboot" in stop
    assert stop.endswith("exit 1")
    # Nothing after the stop runs on a real host; the driver comes before Docker and the Hub.
    assert commands.index(stop) < next(i for i, c in enumerate(commands) if "docker.io" in c)


def test_hwe_kernels_get_their_own_signed_modules_where_the_archive_has_them():
    facts = fresh_host("ubuntu", "24.04")
    facts["deb.DebPackages"] = {"ca-certificates": {"20240203"}, "linux-generic-hwe-24.04": {"7.0.0-28.28~24.04.1"}}
    packages = driver_packages(run_deploy(facts, nvidia_kernel_modules="proprietary"))
    assert packages[-1] == "linux-modules-nvidia-580-server-generic-hwe-24.04"
    # The open modules have no HWE package in this archive, nor has 595: DKMS builds the module instead.
    assert driver_packages(run_deploy(facts)) == ["nvidia-headless-580-server-open", "nvidia-utils-580-server"]
    assert driver_packages(run_deploy(facts, nvidia_driver_branch="595", nvidia_kernel_modules="proprietary")) == [
        "nvidia-headless-595-server", "nvidia-utils-595-server"]


def test_kernels_without_signed_modules_fall_back_to_dkms():
    facts = fresh_host("ubuntu", "22.04")
    facts["deb.DebPackages"] = {"ca-certificates": {"20240203"}, "linux-image-6.8.0-custom": {"1"}}
    assert driver_packages(run_deploy(facts)) == ["nvidia-headless-580-server-open", "nvidia-utils-580-server"]


def test_the_full_server_flavour_and_a_chosen_branch():
    packages = driver_packages(run_deploy(fresh_host("ubuntu", "24.04"), nvidia_driver_flavour="server",
                                          nvidia_driver_branch="580"))
    assert packages == ["nvidia-driver-580-server-open", "linux-modules-nvidia-580-server-open-generic"]


def test_a_branch_the_archive_lacks_is_refused_naming_what_it_offers():
    with pytest.raises(GpuStackError) as error:
        run_deploy(fresh_host("ubuntu", "20.04"), nvidia_driver_branch="570")
    message = str(error.value)
    assert "impossible GPU setup for host '@fake/recorded'" in message
    assert "nvidia_driver_branch is '570', but Ubuntu 20.04 (focal)'s archive offers driver branch(es) " \
           "470, 535, 550" in message


@pytest.mark.parametrize("version", ["12", "13"])
def test_debian_gets_its_non_free_driver_with_the_kernels_headers(version):
    """On a host whose sources are the installer's (main and non-free-firmware of the release,
    -security and -updates), the missing components are added at the host's own mirrors: no
    suite or component twice, and the security suite's driver fixes come along."""
    codename = {"12": "bookworm", "13": "trixie"}[version]
    commands = run_deploy(fresh_host("debian", version))
    assert commands.uploads["/etc/apt/sources.list.d/debian-nvidia-driver.list"] == (
        "# What Debian's NVIDIA driver needs beyond the host's other apt sources (written by the deploy)\n"
        f"deb http://deb.debian.org/debian/ {codename} contrib non-free\n"
        f"deb http://deb.debian.org/debian/ {codename}-updates contrib non-free\n"
        f"deb http://security.debian.org/debian-security {codename}-security contrib non-free\n")
    assert driver_packages(commands) == ["firmware-nvidia-gsp", "linux-headers-amd64", "nvidia-kernel-dkms",
                                         "nvidia-smi", "libcuda1", "libnvidia-ml1"]
    assert stops_for_reboot(commands)


def test_debian_cloud_kernels_get_their_own_headers():
    facts = fresh_host("debian", "12")
    facts["deb.DebPackages"] = {"ca-certificates": {"20240203"}, "linux-image-cloud-amd64": {"6.1.176-1"}}
    assert "linux-headers-cloud-amd64" in driver_packages(run_deploy(facts))


@pytest.mark.parametrize("distro, version", [("debian", "12"), ("debian", "13")])
def test_debian_reads_its_branch_from_the_archive_once_non_free_is_enabled(distro, version):
    facts = with_archive(fresh_host(distro, version), DEBIAN_NON_FREE[(distro, version)])
    assert "nvidia-kernel-dkms" in driver_packages(run_deploy(facts))
    with pytest.raises(GpuStackError, match=f"Debian {version} .*'s archive offers driver branch\\(es\\) "
                                            f"{AUTO_BRANCH[(distro, version)]}"):
        run_deploy(facts, nvidia_driver_branch="580")


def test_allowed_reboots_reboot_and_go_on():
    uptimes = iter([86400, 12])  # before the reboot, then after it
    facts = {**fresh_host("ubuntu", "20.04"), "server.Uptime": lambda: next(uptimes)}
    with mock.patch("pyinfra.operations.server.sleep"):
        commands = run_deploy(facts, nvidia_allow_reboot=True)
    assert "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &" in commands
    assert not stops_for_reboot(commands)


# --- driver states: judged by what is installed and loaded, not by package names ------------------


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_a_host_running_its_driver_is_left_alone(distro, version):
    commands = run_deploy(converged(distro, version))
    assert not stops_for_reboot(commands)
    assert not installs_a_driver(commands)


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_a_driver_library_mismatch_needs_a_reboot_and_no_install(distro, version):
    facts = converged(distro, version)
    facts["jhgpu.facts.nvidia.NvidiaKernelModule"] = "500.10.01"
    commands = run_deploy(facts)
    assert not installs_a_driver(commands)
    stop = stops_for_reboot(commands)
    assert "Driver/library version mismatch: the loaded kernel module is 500.10.01" in stop


def test_an_unloaded_module_after_install_needs_a_reboot():
    facts = converged("ubuntu", "22.04")
    facts["jhgpu.facts.nvidia.NvidiaKernelModule"] = None
    assert "its kernel module is not loaded" in stops_for_reboot(run_deploy(facts))


# 570-server as Ubuntu's newer releases already package it, and as 22.04 and 24.04 will once 570
# follows 535: a transitional package, at its own version, that installs 580 (constructed from
# https://packages.ubuntu.com/resolute/libnvidia-cfg1-570-server).
TRANSITION_570 = {utils("570"): transitional("570.211.01-0ubuntu2", utils("580")),
                  modules("570"): transitional("6.8.0-150.150", modules("580"))}


@pytest.mark.parametrize("version", ["22.04", "24.04"])
@pytest.mark.parametrize("setting", ["auto", "570"])
def test_570_becoming_580_converges_with_no_reboot_loop(version, setting, caplog):
    facts = with_archive(fresh_host("ubuntu", version), TRANSITION_570)
    real_580 = ARCHIVES[("ubuntu", version)][utils("580")]["version"]
    # The host installed 570 before the transition; the archive's upgrade brought 580 with it.
    installed_570 = ["nvidia-headless-no-dkms-570-server", utils("570"), modules("570")]
    installed_580 = ["nvidia-headless-no-dkms-580-server", utils("580"), modules("580")]
    host = with_driver(facts, installed_570 + installed_580, real_580.split("-")[0], real_580.split("-")[0])
    caplog.set_level(logging.INFO)
    commands = run_deploy(host, nvidia_driver_branch=setting)
    assert not stops_for_reboot(commands)
    assert not installs_a_driver(commands)
    if setting == "570":
        assert "nvidia-utils-570-server is a transitional package: this host runs the 580 branch" in said(caplog)
    assert f"NVIDIA driver: the 580 branch ({real_580})" in said(caplog)


@pytest.mark.parametrize("version, retired, successor", [("20.04", "470", "550"), ("22.04", "535", "580"),
                                                         ("24.04", "535", "580")])
def test_a_retired_branch_installed_moves_to_a_branch_that_runs_the_images_once(version, retired, successor):
    """20.04: 470-server is still packaged but too old for CUDA 12; 22.04 and 24.04: 535-server
    is transitional now. Either way the deploy installs the successor, asks for one reboot, and
    is done after it."""
    facts = fresh_host("ubuntu", version)
    installed = ["nvidia-headless-no-dkms-{}-server".format(retired), utils(retired), modules(retired)]
    host = with_driver(facts, installed, f"{retired}.100.01", f"{retired}.100.01",
                       library=f"libnvidia-compute-{retired}-server")
    commands = run_deploy(host)
    assert driver_packages(commands) == [f"nvidia-headless-no-dkms-{successor}-server", utils(successor),
                                         modules(successor)]
    assert f"the NVIDIA {successor} driver is being installed" in stops_for_reboot(commands)
    rebooted = with_driver(host, driver_packages(commands), f"{successor}.100.01", f"{successor}.100.01")
    commands = run_deploy(rebooted)
    assert not stops_for_reboot(commands) and not installs_a_driver(commands)


def test_auto_leaves_a_driver_of_another_kind_alone(caplog):
    host = with_driver(fresh_host("ubuntu", "22.04"), ["nvidia-driver-580"], "580.95.05", "580.95.05",
                       library="libnvidia-compute-580")
    caplog.set_level(logging.INFO)
    commands = run_deploy(host)
    assert not installs_a_driver(commands) and not stops_for_reboot(commands)
    assert "not Ubuntu's -server packages: nvidia_driver_branch = 'auto' leaves it alone" in said(caplog)


def test_the_hub_is_given_the_gpus_the_running_driver_sees():
    host = converged("ubuntu", "24.04")
    config = "/home/jupyterhub/JupyterHubGPU/jupyterhub_config.py"
    before_reboot = run_deploy(host).uploads[config]
    assert "c.GpuDockerSpawner.gpus = []" in before_reboot  # no nvidia-smi yet: CPU-only servers
    assert "c.GpuDockerSpawner.default_gpus = 0" in before_reboot
    host["jhgpu.facts.nvidia.NvidiaGpus"] = NvidiaGpus().process(sample("nvidia-smi-2x-a100-mig.txt"))
    running = run_deploy(host).uploads[config]
    assert "'uuid': 'MIG-b8479d6e-d08f-5a92-9a24-0946db72b2a0'" in running
    assert "c.GpuDockerSpawner.default_gpus = 1" in running


def test_cpu_only_hosts_get_no_nvidia_step():
    commands = run_deploy(fresh_host("ubuntu", "20.04"), gpu_enabled=False)
    for marker in ("nvidia-container", "nvidia-headless", "daemon.json", "--gpus", "this host must reboot"):
        assert not any(marker in c for c in commands), marker


# --- preflight: NVIDIA's compatibility rules, per image, before anything changes ---------------------


@pytest.mark.parametrize("distro, version", [("debian", "12"), ("ubuntu", "20.04")])
def test_an_older_branch_runs_the_default_images_with_a_warning(distro, version, caplog):
    commands = run_deploy(fresh_host(distro, version))
    assert installs(commands)
    warnings = said(caplog, logging.WARNING)
    branch = AUTO_BRANCH[(distro, version)]
    assert (f"nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 (CUDA 12.8.1, its tag) was released with NVIDIA driver "
            f">= 570.124.06; the {branch} branch in the archive is {branch}") in warnings
    assert "above the CUDA 12.x floor 525.60.13, so it runs through minor version compatibility" in warnings
    assert "tensorflow-notebook (CUDA 12.9, declared in notebook_images)" in warnings


def test_debian_12s_535_driver_installed_passes_with_a_warning(caplog):
    host = with_driver(with_archive(fresh_host("debian", "12"), DEBIAN_NON_FREE[("debian", "12")]),
                       ["firmware-nvidia-gsp", "linux-headers-amd64", "nvidia-kernel-dkms", "nvidia-smi", "libcuda1",
                        "libnvidia-ml1"], "535.309.01", "535.309.01", library="libcuda1")
    commands = run_deploy(host)
    assert not stops_for_reboot(commands)
    assert "the installed driver is 535.309.01" in said(caplog, logging.WARNING)


def test_a_cuda_13_image_on_570_is_refused_in_the_settings():
    images = [*run_defaults("notebook_images"), PYTORCH_CUDA13]
    with pytest.raises(SettingsError) as error:
        run_deploy(fresh_host("ubuntu", "24.04"), nvidia_driver_branch="570", notebook_images=images)
    assert ("pytorch-cuda13 (CUDA 13, its build context images/pytorch-notebook/cuda13) needs NVIDIA driver >= 580 "
            "(CUDA 13.x minor version compatibility); nvidia_driver_branch is 570") in str(error.value)


def test_a_cuda_13_image_on_an_installed_570_driver_is_refused():
    images = [*run_defaults("notebook_images"), PYTORCH_CUDA13]
    host = with_driver(fresh_host("ubuntu", "24.04"), [], "570.211.01", "570.211.01",
                       library="libnvidia-compute-570-server")
    with pytest.raises(GpuStackError, match="needs NVIDIA driver >= 580 .*; the host's driver is 570.211.01"):
        run_deploy(host, nvidia_driver_branch=None, notebook_images=images)


def test_auto_refuses_when_no_offered_branch_runs_a_cuda_13_image():
    images = [*run_defaults("notebook_images"), PYTORCH_CUDA13]
    with pytest.raises(GpuStackError) as error:
        run_deploy(fresh_host("ubuntu", "20.04"), notebook_images=images)
    assert "no driver branch can run the notebook images" in str(error.value)
    assert "pytorch-cuda13 (CUDA 13, its build context images/pytorch-notebook/cuda13)" in str(error.value)
    # 24.04's archive offers 580 and 595, which run it: auto takes the long-term 580.
    assert utils("580") in driver_packages(run_deploy(fresh_host("ubuntu", "24.04"), notebook_images=images))


def test_a_driver_left_to_the_admin_must_be_there():
    with pytest.raises(GpuStackError, match="no NVIDIA driver is installed"):
        run_deploy(fresh_host("ubuntu", "24.04"), nvidia_driver_branch=None)
    commands = run_deploy(with_driver(fresh_host("ubuntu", "24.04"), [], "575.57.08", "575.57.08"),
                          nvidia_driver_branch=None)
    assert not stops_for_reboot(commands) and not any("nvidia-headless" in c for c in commands)


def run_defaults(name: str):
    from recorded import default_settings

    return default_settings()[name]


# --- the container toolkit and Docker's runtime --------------------------------------------------


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_the_toolkit_comes_from_nvidias_signed_repository(distro, version):
    commands = run_deploy(fresh_host(distro, version))
    key = next(i for i, c in enumerate(commands) if "https://nvidia.github.io/libnvidia-container/gpgkey" in c)
    repo = next(i for i, c in enumerate(commands) if "sources.list.d/nvidia-container-toolkit.list" in c)
    install = next(i for i, c in enumerate(commands) if APT_INSTALL in c and "nvidia-container-toolkit" in c)
    assert key < repo < install
    keyring = keyring_path("nvidia-container-toolkit", "https://nvidia.github.io/libnvidia-container/gpgkey")
    assert commands.uploads["/etc/apt/sources.list.d/nvidia-container-toolkit.list"] == (
        f"deb [signed-by={keyring}] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n")
    assert not any("nvidia-docker2" in c for c in commands)
    # NVIDIA's four packages, pinned together at nvidia_container_toolkit_version.
    assert installs(commands[install:])[0] == ["--allow-downgrades", "nvidia-container-toolkit=1.20.0-1",
                                               "nvidia-container-toolkit-base=1.20.0-1",
                                               "libnvidia-container-tools=1.20.0-1", "libnvidia-container1=1.20.0-1"]


def test_an_installed_toolkit_at_the_pinned_version_is_left_alone_and_another_is_moved():
    facts = fresh_host("ubuntu", "24.04")
    toolkit = {name: {"1.20.0-1"} for name in ("nvidia-container-toolkit", "nvidia-container-toolkit-base",
                                                 "libnvidia-container-tools", "libnvidia-container1")}
    facts["deb.DebPackages"] = {**facts["deb.DebPackages"], **toolkit}
    assert not any("nvidia-container-toolkit=" in c for c in run_deploy(facts))
    facts["deb.DebPackages"]["nvidia-container-toolkit"] = {"1.18.0-1"}
    moved = [c for c in run_deploy(facts) if "nvidia-container-toolkit=" in c]
    assert moved and "nvidia-container-toolkit=1.20.0-1" in moved[0] and "libnvidia-container1=" not in moved[0]


def test_a_mirror_serves_the_toolkit():
    commands = run_deploy(fresh_host(), nvidia_container_toolkit_repo_url="https://mirror.example.org/nct/",
                          nvidia_container_toolkit_key_url="https://mirror.example.org/nct/gpgkey")
    assert any("https://mirror.example.org/nct/gpgkey" in c for c in commands)
    assert "https://mirror.example.org/nct/$(ARCH) /" in commands.uploads[
        "/etc/apt/sources.list.d/nvidia-container-toolkit.list"]


def test_docker_gets_the_nvidia_runtime_and_restarts_only_when_daemon_json_changed():
    facts = fresh_host()
    existing = ['{', '  "log-driver": "local",', '  "runtimes": {"other": {"path": "/usr/bin/other"}}', '}']
    facts["files.FileContents"] = lambda path: existing if path == "/etc/docker/daemon.json" else None
    commands = run_deploy(facts)
    upload = commands.index("PUT /etc/docker/daemon.json")
    assert commands[upload + 1] == "systemctl restart docker"

    merged = daemon_json_with_nvidia_runtime("\n".join(existing)).splitlines()
    facts["files.FileContents"] = lambda path: merged if path == "/etc/docker/daemon.json" else None
    commands = run_deploy(facts)
    assert "PUT /etc/docker/daemon.json" not in commands and "systemctl restart docker" not in commands


def test_daemon_json_keeps_every_other_key():
    import json

    merged = json.loads(daemon_json_with_nvidia_runtime('{"log-driver": "local", "runtimes": {"x": {"path": "x"}}}'))
    assert merged == {"log-driver": "local", "runtimes": {"x": {"path": "x"},
                      "nvidia": {"path": "nvidia-container-runtime", "args": []}}}
    with pytest.raises(GpuStackError, match="not valid JSON"):
        daemon_json_with_nvidia_runtime("{broken")


# --- the last step: a user container sees the GPUs -------------------------------------------------


def test_the_last_step_reports_what_a_gpu_container_sees():
    facts = fresh_host()
    asked = []
    facts["jhgpu.facts.nvidia.GpuContainerView"] = lambda image: asked.append(image) or {
        "gpus": ["NVIDIA A100-SXM4-80GB"] * 2, "tensorflow": 2, "error": None}
    run_deploy(facts)
    assert set(asked) == {"jupytergpu/tensorflow-notebook:latest"}


def test_a_host_whose_containers_see_no_gpu_fails_the_last_step():
    facts = fresh_host()
    facts["jhgpu.facts.nvidia.GpuContainerView"] = lambda image: {
        "gpus": [], "tensorflow": None, "error": "could not select device driver \"\" with capabilities: [[gpu]]"}
    failing = [c for c in run_deploy(facts) if "no GPU is visible to containers on this host" in c]
    assert len(failing) == 1 and "could not select device driver" in failing[0] and failing[0].endswith("exit 1")


# --- the facts, from command output samples -------------------------------------------------------


def test_gpus_fact_reads_nvidia_smi():
    gpus = NvidiaGpus().process(sample("nvidia-smi-h200.txt"))  # captured on an H200
    assert gpus == [{"index": 0, "name": "NVIDIA H200", "uuid": "GPU-f099d46c-2412-5391-f791-126211e3e659",
                     "memory_mib": 143771, "driver_version": "580.159.04", "mig_enabled": False, "mig": []}]
    # A driver/library mismatch makes nvidia-smi fail: the fact says it cannot see GPUs.
    assert NvidiaGpus().process(["Failed to initialize NVML: Driver/library version mismatch", "FAILED"]) is None
    assert NvidiaGpus().process([]) is None  # no nvidia-smi


def test_gpus_fact_reads_mig_instances_under_their_gpu():
    gpus = NvidiaGpus().process(sample("nvidia-smi-2x-a100-mig.txt"))
    assert [(gpu["index"], gpu["mig_enabled"]) for gpu in gpus] == [(0, True), (1, True)]
    assert gpus[1]["mig"] == [
        {"profile": "1g.10gb", "device": 0, "uuid": "MIG-d5a46a2e-1d77-575d-99e3-1f96c8555a2e"},
        {"profile": "1g.10gb", "device": 1, "uuid": "MIG-b8479d6e-d08f-5a92-9a24-0946db72b2a0"}]


def test_driver_package_and_module_facts():
    # The real library, not a transitional package's own (lower) version.
    assert NvidiaDriverPackage().process(sample("dpkg-query-ubuntu-transitional.txt")) == {
        "package": "libnvidia-compute-580-server", "version": "580.173.02"}
    assert NvidiaDriverPackage().process(sample("dpkg-query-debian-535.txt"))["version"] == "535.309.01"
    assert NvidiaDriverPackage().process([]) is None
    assert NvidiaKernelModule().process(sample("sys-module-nvidia-version.txt")) == "535.146.02"
    assert NvidiaKernelModule().process([]) is None


def test_apt_candidates_fact_reads_apt_cache_show():
    found = AptCandidates().process(sample("apt-cache-show-noble.txt"))
    assert found[utils("565")] == {"version": "565.57.01-0ubuntu0.24.04.4", "depends": [utils("580")]}
    assert found[utils("580")]["version"] == "580.173.02-0ubuntu0.24.04.1"
    assert "libnvidia-compute-580-server" in found[utils("580")]["depends"]


@pytest.mark.parametrize("nvidia_smi, gpus", [
    ("echo 'No devices were found'; exit 6", []),  # what nvidia-smi says, failing, when it sees no GPU
    ("echo 'NVIDIA A100-SXM4-80GB'; echo 'NVIDIA A100-SXM4-80GB'", ["NVIDIA A100-SXM4-80GB"] * 2),
])
def test_the_gpu_probe_counts_gpus_only_when_nvidia_smi_succeeds(tmp_path, nvidia_smi, gpus):
    import os
    import subprocess

    from jhgpu.facts.nvidia import GpuContainerView

    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n{nvidia_smi}\n")
    fake.chmod(0o755)
    output = subprocess.run(["sh", "-c", GpuContainerView.PROBE], capture_output=True, text=True,
                            env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}).stdout
    assert GpuContainerView().process(output.splitlines())["gpus"] == gpus


def test_a_changed_mirror_or_key_url_replaces_the_source_and_fetches_the_key_anew():
    facts = fresh_host("ubuntu", "24.04")
    source = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"
    old_keyring = keyring_path("nvidia-container-toolkit", "https://nvidia.github.io/libnvidia-container/gpgkey")
    present = {"user": "root", "group": "root", "mode": 644}
    facts["files.File"] = lambda path: present if path in (source, old_keyring) else None
    facts["files.Sha1File"] = lambda path: "0" * 40 if path == source else None  # the old source line
    unchanged = run_deploy(facts)
    assert not any("libnvidia-container/gpgkey" in c for c in unchanged)  # the key in place is kept

    moved = run_deploy(facts, nvidia_container_toolkit_repo_url="https://mirror.example.org/nct",
                       nvidia_container_toolkit_key_url="https://mirror.example.org/nct/gpgkey")
    new_keyring = keyring_path("nvidia-container-toolkit", "https://mirror.example.org/nct/gpgkey")
    assert new_keyring != old_keyring
    assert any("https://mirror.example.org/nct/gpgkey" in c for c in moved)
    assert moved.uploads[source] == f"deb [signed-by={new_keyring}] https://mirror.example.org/nct/$(ARCH) /\n"
