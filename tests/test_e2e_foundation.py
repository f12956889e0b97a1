"""End to end on a real host (systemd, sshd, its own Docker) reached over SSH, once on Debian 12
and once on Debian 13.

Bad settings first (the host must stay untouched), then a deploy, then a second deploy that must
change nothing, then a look at the host as an admin would take it.
"""

import pytest

from conftest import run_pyinfra, write_inventory
from testbed import testbed

pytestmark = pytest.mark.e2e

PRELOAD_REF = "jhgpu-test/preloaded:1"


@pytest.fixture(scope="module", params=testbed.SUITES)
def fresh_host(request, docker_engine):
    """A new test-bed host of each Debian release, removed afterwards with its volume."""
    host = testbed.start_host(suite=request.param)
    yield host
    host.remove()


@pytest.fixture(scope="module")
def preload_archive(tmp_path_factory, docker_engine):
    testbed.build_marker_image(PRELOAD_REF)
    return testbed.save_image_archive(PRELOAD_REF, tmp_path_factory.mktemp("images") / "preloaded.tar")


@pytest.fixture(scope="module")
def settings(preload_archive, tmp_path_factory):
    # One tiny image for the Hub to offer: the image chain and the Hub have their own tests.
    workdir = tmp_path_factory.mktemp("testbed")
    testbed_settings = testbed.testbed_settings(workdir)
    return {**testbed_settings, "gpu_enabled": False, "notebook_images": [testbed.tiny_image(workdir)],
            "preload_images": [*testbed_settings["preload_images"], str(preload_archive)]}


def host_is_untouched(host):
    state = host.ssh("dpkg -s docker.io >/dev/null 2>&1 && echo docker;"
                     " id jupyterhub >/dev/null 2>&1 && echo user;"
                     " test -e /home/jh_users && echo homes; true").stdout.split()
    assert state == []


@pytest.mark.parametrize("bad, message", [
    ({"users_home_rot": "/home/x"}, "unknown setting 'users_home_rot' (did you mean 'users_home_root'?)"),
    ({"users_home_root": "jh_users"}, "setting 'users_home_root' must be an absolute path"),
    ({"gpu_enabled": "yes"}, "setting 'gpu_enabled' must be bool, got str 'yes'"),
    ({"gpu_enabled": True, "nvidia_driver_branch": "570",
      "notebook_root_image": "nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04"},
     "needs NVIDIA driver >= 580 (CUDA 13.x minor version compatibility); nvidia_driver_branch is 570"),
])
def test_bad_settings_stop_before_the_host_changes(fresh_host, settings, tmp_path, bad, message):
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", fresh_host, **{**settings, **bad}))
    assert run.returncode != 0
    assert f"invalid settings for host '{fresh_host.name}'" in run.output
    assert message in run.output
    host_is_untouched(fresh_host)


def test_first_deploy_converges_the_host(fresh_host, settings, tmp_path):
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", fresh_host, **settings))
    assert run.returncode == 0, run.output[-4000:]
    assert run.changed_operations(), "a fresh host must need changes"


def test_second_deploy_changes_nothing(fresh_host, settings, tmp_path):
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", fresh_host, **settings))
    assert run.returncode == 0, run.output[-4000:]
    assert run.changed_operations() == []


def test_docker_runs_and_starts_at_boot(fresh_host):
    assert fresh_host.ssh("systemctl is-active docker; systemctl is-enabled docker").stdout.split() == [
        "active", "enabled"]
    assert fresh_host.ssh("docker info --format '{{.ServerVersion}}'").stdout.strip()


def test_compose_and_buildkit_work(fresh_host):
    if fresh_host.suite == "bookworm":
        # Debian 12's archive has Compose v1 only, and its Docker 20.10 client has BuildKit built in.
        assert "docker-compose version 1." in fresh_host.ssh("docker-compose version").stdout
    else:
        # Debian 13: Compose v2 as a CLI plugin, and buildx, which its Docker 26 client needs for
        # the BuildKit builds the deploy ran (the Hub's image among them).
        assert fresh_host.ssh("docker compose version").stdout.startswith("Docker Compose version 2.")
        assert "buildx" in fresh_host.ssh("docker buildx version").stdout


def test_hub_user_may_use_docker(fresh_host):
    assert "docker" in fresh_host.ssh("id -nG jupyterhub").stdout.split()
    assert fresh_host.ssh("runuser -u jupyterhub -- docker ps -q", check=False).returncode == 0


def test_folders_have_deliberate_owners_and_modes(fresh_host):
    stat = fresh_host.ssh("stat -c '%n %U %G %a' /home/jupyterhub/JupyterHubGPU /home/jh_users /mnt/shared")
    assert stat.stdout.splitlines() == [
        "/home/jupyterhub/JupyterHubGPU jupyterhub jupyterhub 750",
        "/home/jh_users root root 700",
        "/mnt/shared jupyterhub jupyterhub 755",
    ]


def test_preloaded_image_is_present_and_archive_cleaned_up(fresh_host):
    assert fresh_host.ssh(f"docker image inspect --format ok {PRELOAD_REF}").stdout.strip() == "ok"
    assert fresh_host.ssh("ls /var/tmp/jhgpu-preload-* 2>/dev/null; true").stdout == ""
