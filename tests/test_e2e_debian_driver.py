"""Debian's NVIDIA driver against Debian's real archive, on hosts set up as Debian's installer
sets them up (apt sources: main and non-free-firmware of the release, -security and -updates).

With gpu_enabled, the deploy must get through its preflight (an archive that offers no driver
package yet is a normal state) and add to the host's sources what the driver needs, without
naming a suite or component twice; the driver's package set must then resolve, from the
security suite where it has a newer driver. The install itself is simulated
(tests/testbed/driver_resolves.py): a DKMS build needs a GPU and kernel headers this machine
lacks. A real install is the recorded-facts tests' (tests/test_nvidia.py) and a GPU server's.
"""

import re

import pytest

from conftest import run_pyinfra, write_inventory
from testbed import testbed

pytestmark = pytest.mark.e2e
SIMULATION = "/root/driver-install-simulation.txt"  # what apt said, left there by driver_resolves.py

# Debian's driver per release as the archive had it when this was written (apt-cache policy,
# 2026-11): bookworm-security carries a newer 535 than bookworm itself.
FROM_SECURITY = {"bookworm": r"535\.\d+\.\d+-0\+deb12u\d+ Debian-Security:12/\w*stable-security"}


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def installed_host(request, docker_engine):
    host = testbed.start_host(suite=request.param, publish=())
    yield host
    host.remove()


def resolve(host, tmp_path):
    inventory = write_inventory(tmp_path / "inventory.py", host, gpu_enabled=True, gpu_check_image=None)
    return run_pyinfra(inventory, deploy="tests/testbed/driver_resolves.py", timeout=900)


def test_the_drivers_packages_resolve_against_debians_archive(installed_host, tmp_path):
    sources = installed_host.ssh("cat /etc/apt/sources.list").stdout
    assert f"{installed_host.suite}-security main non-free-firmware" in sources  # as the installer writes it

    run = resolve(installed_host, tmp_path)
    assert run.returncode == 0, run.output[-6000:]
    simulation = installed_host.ssh(f"cat {SIMULATION}").stdout
    assert not re.search(r"^W: ", simulation, re.M), simulation  # nothing configured twice, no conflict
    installs = re.findall(r"^Inst (\S+) \((\S+ [^)]*)\)", simulation, re.M)
    names = {name for name, _ in installs}
    assert {"nvidia-kernel-dkms", "nvidia-smi", "libcuda1", "firmware-nvidia-gsp"} <= names, simulation
    if installed_host.suite in FROM_SECURITY:
        driver = dict(installs)["nvidia-kernel-dkms"]
        assert re.fullmatch(FROM_SECURITY[installed_host.suite] + r".*", driver), driver

    second = resolve(installed_host, tmp_path)
    assert second.returncode == 0, second.output[-4000:]
    assert "Add what Debian's NVIDIA driver needs to the apt sources (non-free, -security)" not in \
        second.changed_operations()
