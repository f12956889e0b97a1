"""The NVIDIA container stack for real on a test-bed host, from a signed stand-in repository.

The host (Debian 12, no GPU) serves itself an apt repository of stand-ins under NVIDIA's package
names (tests/testbed/nvidia_standins.py says what they cannot prove). The deploy adds its key and
source, installs the toolkit, wires the nvidia runtime into Docker, and at its last step finds no
GPU in a container, which must fail the deploy with a clear message. The driver is the admin's
own here (nvidia_driver_branch = None): installing one needs a kernel module, which only the
recorded-facts tests (tests/test_nvidia.py) can cover.
"""

import json

import pytest

from conftest import run_pyinfra, write_inventory
from jhgpu.platform import keyring_path
from testbed import nvidia_standins, testbed

pytestmark = pytest.mark.e2e

NO_GPU = "no GPU is visible to containers on this host"


@pytest.fixture(scope="module")
def settings(fresh_host, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("nvidia")
    repository = nvidia_standins.build_repository(workdir)
    urls = nvidia_standins.serve(fresh_host, repository)
    nvidia_standins.install_admins_driver(fresh_host)
    # An admin's own Docker setting, which the runtime wiring must keep.
    fresh_host.ssh("mkdir -p /etc/docker && echo '{\"log-level\": \"warn\"}' > /etc/docker/daemon.json")
    return {**testbed.testbed_settings(workdir), **urls, "gpu_enabled": True, "nvidia_driver_branch": None,
            "notebook_images": [testbed.tiny_image(workdir)], "gpu_check_image": "tiny-notebook", "inventory": workdir / "inventory.py"}


def deploy(host, settings):
    settings = dict(settings)
    return run_pyinfra(write_inventory(settings.pop("inventory"), host, **settings))


def docker_started_at(host) -> str:
    return host.ssh("systemctl show docker --property ActiveEnterTimestampMonotonic").stdout.strip()


def test_the_deploy_installs_the_toolkit_and_stops_at_the_missing_gpu(fresh_host, settings):
    run = deploy(fresh_host, settings)
    assert run.returncode != 0
    assert NO_GPU in run.output, run.output[-4000:]
    changed = run.changed_operations()
    for step in ("Add the NVIDIA Container Toolkit's apt repository and key",
                 f"Install the NVIDIA Container Toolkit {nvidia_standins.TOOLKIT_VERSION}", "Add the nvidia runtime to Docker (restarts Docker if it changed)",
                 "Run the Hub on port 8000"):
        assert step in changed, f"{step!r} did not run"


def test_the_repository_is_trusted_through_its_own_keyring(fresh_host):
    keyring = keyring_path("nvidia-container-toolkit", f"http://127.0.0.1:{nvidia_standins.PORT}/gpgkey")
    source = fresh_host.ssh("cat /etc/apt/sources.list.d/nvidia-container-toolkit.list").stdout
    assert source == f"deb [signed-by={keyring}] http://127.0.0.1:8089/stable/deb/$(ARCH) /\n"
    assert "BEGIN PGP PUBLIC KEY BLOCK" in fresh_host.ssh(f"cat {keyring}").stdout
    # apt checked the InRelease signature against that key alone: it is in no global keyring.
    assert fresh_host.ssh("ls /etc/apt/trusted.gpg.d/ | grep -ci nvidia", check=False).stdout.strip() == "0"
    assert toolkit_versions(fresh_host) == {nvidia_standins.TOOLKIT_VERSION}


def toolkit_versions(host) -> set[str]:
    """The versions of NVIDIA's four toolkit packages on the host."""
    names = "nvidia-container-toolkit nvidia-container-toolkit-base libnvidia-container-tools libnvidia-container1"
    lines = host.ssh(f"dpkg-query -W -f='${{Package}} ${{Version}}\\n' {names}").stdout.splitlines()
    assert len(lines) == 4, lines
    return {line.split()[1] for line in lines}


def test_docker_has_the_nvidia_runtime_and_kept_the_admins_setting(fresh_host):
    config = json.loads(fresh_host.ssh("cat /etc/docker/daemon.json").stdout)
    assert config["log-level"] == "warn"
    assert config["runtimes"]["nvidia"] == {"path": "nvidia-container-runtime", "args": []}
    runtimes = fresh_host.ssh("docker info --format '{{json .Runtimes}}'").stdout
    assert "nvidia" in json.loads(runtimes)
    ran = fresh_host.ssh("docker run --rm --runtime nvidia jupytergpu/tiny-notebook:latest echo via-nvidia",
                         check=False)
    assert ran.stdout.strip() == "via-nvidia", ran.stderr


def test_a_rerun_changes_nothing_and_does_not_restart_docker(fresh_host, settings):
    started = docker_started_at(fresh_host)
    run = deploy(fresh_host, settings)
    assert NO_GPU in run.output and run.returncode != 0  # still no GPU, still said plainly
    assert "Check that a container of jupytergpu/tiny-notebook:latest sees the GPUs" in run.output
    assert run.changed_operations() == []
    assert docker_started_at(fresh_host) == started


def test_the_toolkit_moves_to_the_version_set_and_back(fresh_host, settings):
    older = deploy(fresh_host, {**settings, "nvidia_container_toolkit_version": nvidia_standins.OLDER_TOOLKIT_VERSION})
    assert f"Install the NVIDIA Container Toolkit {nvidia_standins.OLDER_TOOLKIT_VERSION}" in older.changed_operations()
    assert toolkit_versions(fresh_host) == {nvidia_standins.OLDER_TOOLKIT_VERSION}
    deploy(fresh_host, settings)
    assert toolkit_versions(fresh_host) == {nvidia_standins.TOOLKIT_VERSION}
