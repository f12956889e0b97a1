"""The NVIDIA stack with recorded facts: facts in, commands out.

There is no GPU and no Ubuntu archive here, so each supported release is described by its facts
(tests/recorded_hosts.py plus the driver states below) and the real deploy.py is run through
pyinfra's @fake connector. The nvidia-smi and dpkg samples in tests/fixtures/nvidia are in
NVIDIA's documented formats, not captures (see the README there).
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from jhgpu.facts import NvidiaDriverPackage, NvidiaGpus, NvidiaKernelModule
from jhgpu.nvidia import GpuStackError, cuda_version_of, daemon_json_with_nvidia_runtime
from recorded import run_deploy
from recorded_hosts import OS_RELEASES, fresh_host

SAMPLES = Path(__file__).parent / "fixtures" / "nvidia"
APT_INSTALL = "apt-get -y -o Dpkg::Options::=\"--force-confdef\" -o Dpkg::Options::=\"--force-confold\" install"
UBUNTU = [version for distro, version in OS_RELEASES if distro == "ubuntu"]
# What Debian 12 can run: its only branch, and a CUDA image old enough for it.
DEBIAN_GPU = {"nvidia_driver_branch": "535", "notebook_root_image": "nvidia/cuda:12.2.2-cudnn8-runtime-ubuntu22.04"}


def sample(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def installs(commands: list[str]) -> list[list[str]]:
    return [c.split(APT_INSTALL, 1)[1].split() for c in commands if APT_INSTALL in c]


def with_driver(facts: dict, packages: list[str], installed: str, loaded: str | None) -> dict:
    """A host with these driver packages installed, userspace driver `installed`, module `loaded`."""
    debs = {**facts["deb.DebPackages"], **{name: {f"{installed}-1"} for name in packages}}
    return {**facts, "deb.DebPackages": debs,
            "jhgpu.facts.NvidiaDriverPackage": {"package": "libnvidia-compute", "version": installed},
            "jhgpu.facts.NvidiaKernelModule": loaded}


def stops_for_reboot(commands: list[str]) -> str | None:
    return next((c for c in commands if "this host must reboot" in c), None)


UBUNTU_HEADLESS = ["nvidia-headless-no-dkms-570-server", "nvidia-utils-570-server",
                   "linux-modules-nvidia-570-server-generic"]


# --- the driver, per release -------------------------------------------------------------------


@pytest.mark.parametrize("version", UBUNTU)
def test_ubuntu_gets_the_server_branch_with_signed_modules_then_asks_for_a_reboot(version):
    commands = run_deploy(fresh_host("ubuntu", version))
    assert UBUNTU_HEADLESS in installs(commands)
    stop = stops_for_reboot(commands)
    assert stop and "the NVIDIA 570 driver is being installed" in stop and "nvidia_allow_reboot" in stop
    assert stop.endswith("exit 1")
    # Nothing after the stop runs on a real host; the driver comes before Docker and the Hub.
    assert commands.index(stop) < next(i for i, c in enumerate(commands) if "docker.io" in c)


def test_ubuntu_hwe_kernels_get_their_own_signed_modules():
    facts = fresh_host("ubuntu", "20.04")
    facts["deb.DebPackages"] = {**facts["deb.DebPackages"], "linux-generic-hwe-20.04": {"5.15.0.139.151"}}
    assert "linux-modules-nvidia-570-server-generic-hwe-20.04" in installs(run_deploy(facts))[1]


def test_kernels_without_signed_modules_fall_back_to_dkms():
    facts = fresh_host("ubuntu", "22.04")
    facts["deb.DebPackages"] = {"ca-certificates": {"20240203"}, "linux-image-6.8.0-custom": {"1"}}
    assert installs(run_deploy(facts))[1] == ["nvidia-headless-570-server", "nvidia-utils-570-server"]


def test_the_full_server_flavour_and_another_branch():
    packages = installs(run_deploy(fresh_host("ubuntu", "24.04"), nvidia_driver_flavour="server",
                                   nvidia_driver_branch="580"))[1]
    assert packages == ["nvidia-driver-580-server", "linux-modules-nvidia-580-server-generic"]


def test_debian_12_gets_its_non_free_driver():
    commands = run_deploy(fresh_host("debian", "12"), **DEBIAN_GPU)
    sources = [c for c in commands if "debian-nvidia-driver.list" in c]
    assert any("deb http://deb.debian.org/debian bookworm contrib non-free non-free-firmware" in c for c in sources)
    assert any("bookworm-updates contrib non-free non-free-firmware" in c for c in sources)
    assert installs(commands)[1] == ["firmware-nvidia-gsp", "linux-headers-amd64", "nvidia-kernel-dkms",
                                     "nvidia-smi", "libcuda1", "libnvidia-ml1"]
    assert stops_for_reboot(commands)


def test_allowed_reboots_reboot_and_go_on():
    uptimes = iter([86400, 12])  # before the reboot, then after it
    facts = {**fresh_host("ubuntu", "20.04"), "server.Uptime": lambda: next(uptimes)}
    with mock.patch("pyinfra.operations.server.sleep"):
        commands = run_deploy(facts, nvidia_allow_reboot=True)
    assert "( sleep 1 && reboot ) </dev/null >/dev/null 2>&1 &" in commands
    assert not stops_for_reboot(commands)


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_a_driver_library_mismatch_needs_a_reboot_and_no_install(distro, version):
    settings = DEBIAN_GPU if distro == "debian" else {}
    branch = settings.get("nvidia_driver_branch", "570")
    packages = installs(run_deploy(fresh_host(distro, version), **settings))[1]
    facts = with_driver(fresh_host(distro, version), packages, f"{branch}.133.20", f"{branch}.86.15")
    commands = run_deploy(facts, **settings)
    assert not any(set(packages) & set(installed) for installed in installs(commands))
    stop = stops_for_reboot(commands)
    assert f"Driver/library version mismatch: the loaded kernel module is {branch}.86.15" in stop


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_a_host_running_the_wanted_driver_is_left_alone(distro, version):
    settings = DEBIAN_GPU if distro == "debian" else {}
    branch = settings.get("nvidia_driver_branch", "570")
    packages = installs(run_deploy(fresh_host(distro, version), **settings))[1]
    commands = run_deploy(with_driver(fresh_host(distro, version), packages, f"{branch}.133.20",
                                      f"{branch}.133.20"), **settings)
    assert not stops_for_reboot(commands)
    assert not any(set(packages) & set(installed) for installed in installs(commands))


def test_an_unloaded_module_after_install_needs_a_reboot():
    packages = installs(run_deploy(fresh_host("ubuntu", "22.04")))[1]
    commands = run_deploy(with_driver(fresh_host("ubuntu", "22.04"), packages, "570.133.20", None))
    assert "its kernel module is not loaded" in stops_for_reboot(commands)


def test_cpu_only_hosts_get_no_nvidia_step():
    commands = run_deploy(fresh_host("ubuntu", "20.04"), gpu_enabled=False)
    for marker in ("nvidia-container", "nvidia-headless", "daemon.json", "--gpus", "this host must reboot"):
        assert not any(marker in c for c in commands), marker


# --- preflight: impossible pairings are refused before anything changes ------------------------


def test_a_branch_too_old_for_the_cuda_image_is_refused_with_both_numbers():
    from jhgpu.settings import SettingsError

    with pytest.raises(SettingsError) as error:
        run_deploy(fresh_host("ubuntu", "20.04"), nvidia_driver_branch="535")
    message = str(error.value)
    assert "host '@fake/recorded'" in message
    assert "CUDA 12.8.1, which needs NVIDIA driver >= 570.124.06" in message
    assert "nvidia_driver_branch is '535'" in message


def test_an_installed_driver_too_old_for_the_image_is_refused():
    facts = with_driver(fresh_host("ubuntu", "20.04"), [], "570.86.15", "570.86.15")
    with pytest.raises(GpuStackError, match="needs NVIDIA driver >= 570.124.06; the host runs driver 570.86.15"):
        run_deploy(facts)


def test_debian_12_refuses_branches_it_does_not_have():
    with pytest.raises(GpuStackError, match="Debian 12's non-free archive has only the 535 branch"):
        run_deploy(fresh_host("debian", "12"))


def test_a_driver_left_to_the_admin_must_be_there():
    with pytest.raises(GpuStackError, match="no NVIDIA driver is installed"):
        run_deploy(fresh_host("ubuntu", "24.04"), nvidia_driver_branch=None)
    commands = run_deploy(with_driver(fresh_host("ubuntu", "24.04"), [], "575.57.08", "575.57.08"),
                          nvidia_driver_branch=None)
    assert not stops_for_reboot(commands) and not any("nvidia-headless" in c for c in commands)


@pytest.mark.parametrize("image, cuda", [
    ("nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04", "12.8.1"),
    ("nvcr.io/nvidia/cuda:12.4.1-base-ubuntu22.04", "12.4.1"),
    ("nvidia/cuda:12.2-runtime", "12.2.0"),
    ("ubuntu:24.04", None),
    ("example.org/nvidia/cudax:1.0", None),
])
def test_cuda_versions_are_read_from_nvidia_cuda_tags(image, cuda):
    assert cuda_version_of(image) == cuda


# --- the container toolkit and Docker's runtime --------------------------------------------------


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_the_toolkit_comes_from_nvidias_signed_repository(distro, version):
    commands = run_deploy(fresh_host(distro, version), **(DEBIAN_GPU if distro == "debian" else {}))
    key = next(i for i, c in enumerate(commands) if "https://nvidia.github.io/libnvidia-container/gpgkey" in c)
    repo = next(i for i, c in enumerate(commands) if "sources.list.d/nvidia-container-toolkit.list" in c)
    install = next(i for i, c in enumerate(commands) if APT_INSTALL in c and "nvidia-container-toolkit" in c)
    assert key < repo < install
    assert ("deb [signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc] "
            "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /") in commands[repo]
    assert not any("nvidia-docker2" in c for c in commands)


def test_a_mirror_serves_the_toolkit():
    commands = run_deploy(fresh_host(), nvidia_container_toolkit_repo_url="https://mirror.example.org/nct/",
                          nvidia_container_toolkit_key_url="https://mirror.example.org/nct/gpgkey")
    assert any("https://mirror.example.org/nct/gpgkey" in c for c in commands)
    assert any("https://mirror.example.org/nct/$(ARCH) /" in c for c in commands)


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
    facts["jhgpu.facts.GpuContainerView"] = lambda image: asked.append(image) or {
        "gpus": ["NVIDIA A100-SXM4-80GB"] * 2, "tensorflow": 2, "error": None}
    run_deploy(facts)
    assert set(asked) == {"jupytergpu/tensorflow-notebook:latest"}


def test_a_host_whose_containers_see_no_gpu_fails_the_last_step():
    facts = fresh_host()
    facts["jhgpu.facts.GpuContainerView"] = lambda image: {
        "gpus": [], "tensorflow": None, "error": "could not select device driver \"\" with capabilities: [[gpu]]"}
    failing = [c for c in run_deploy(facts) if "no GPU is visible to containers on this host" in c]
    assert len(failing) == 1 and "could not select device driver" in failing[0] and failing[0].endswith("exit 1")


# --- the facts, from command output samples -------------------------------------------------------


def test_gpus_fact_reads_nvidia_smi():
    gpus = NvidiaGpus().process(sample("nvidia-smi-2x-a100.csv"))
    assert [gpu["index"] for gpu in gpus] == [0, 1]
    assert gpus[0] == {"index": 0, "name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-5f4b5c4e-6f1d-2a8e-9d6b-0c3e7a1f2b44",
                       "memory_mib": 81920, "driver_version": "570.133.20"}
    assert NvidiaGpus().process(sample("nvidia-smi-rtx-4090.csv"))[0]["name"] == "NVIDIA GeForce RTX 4090"
    # A driver/library mismatch makes nvidia-smi fail: the fact says it cannot see GPUs.
    assert NvidiaGpus().process(["Failed to initialize NVML: Driver/library version mismatch", "FAILED"]) is None
    assert NvidiaGpus().process([]) is None  # no nvidia-smi


def test_driver_package_and_module_facts():
    assert NvidiaDriverPackage().process(sample("dpkg-query-ubuntu-570.txt")) == {
        "package": "libnvidia-compute-570-server", "version": "570.133.20"}
    assert NvidiaDriverPackage().process(sample("dpkg-query-debian-535.txt"))["version"] == "535.247.01"
    assert NvidiaDriverPackage().process([]) is None
    assert NvidiaKernelModule().process(["570.133.20"]) == "570.133.20"
    assert NvidiaKernelModule().process([]) is None
