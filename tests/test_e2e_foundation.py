"""End to end on a real host (systemd, sshd, its own Docker) reached over SSH, once on Debian 12
and once on Debian 13.

Bad settings first (the host must stay untouched), then a deploy, then a second deploy that must
change nothing, then a look at the host as an admin would take it.
"""

import subprocess
import sys
import time
from pathlib import Path

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


def expired_certificate(folder) -> dict:
    from test_tls import make_certificate

    certificate, key = make_certificate(folder, ("hub.example.org",), days=(-90, -1))
    return {"hub_tls": "files", "tls_certificate_file": certificate, "tls_key_file": key}


# The catalogue of bad input: each is refused with its cause and the host's name, before the
# host changes. (A patch that does not apply, a failing build and a disk full during a build are
# in test_e2e_images.py.)
CATALOGUE = [
    ({"build_ca_certificates": "/nonexistent/site-ca.pem"},
     "setting 'build_ca_certificates' must be an existing file on this machine"),
    ({"hub_tls": "letsencrypt", "acme_email": "it@example.org"},
     "setting 'hub_domain' is needed with hub_tls = 'letsencrypt'"),
    ({"hub_tls": "letsencrypt", "hub_domain": "192.0.2.1", "acme_email": "it@example.org"},
     "setting 'hub_domain' must be a domain name, not the IP address '192.0.2.1'"),
    (expired_certificate, "expired on"),
    ({"user_gpus": 3}, "setting 'user_gpus' 3 is more than max_gpus_per_user (1)"),
    ({"hub_passwords": {"carol": "long enough"}}, "has a password for 'carol', which is not in hub_admin_users"),
    ({"docker_stacks_ref": "main"}, "setting 'docker_stacks_ref' must be a full commit SHA"),
    ({"hub_port": "8000"}, "setting 'hub_port' must be int, got str '8000'"),
    ({"shared_data_dir": "/srv/data"}, "setting 'shared_data_dir'"),
    ({"idle_cull_timeout": 10}, "setting 'idle_cull_timeout' must be at least 60, got 10"),
    ({"gpu_allocation": "fair"}, "setting 'gpu_allocation' must be one of"),
    ({"hub_users": ["Alice Smith"]}, "setting 'hub_users' item 0: must be an account name"),
]


@pytest.mark.parametrize("bad, message", CATALOGUE, ids=[message[:40] for _, message in CATALOGUE])
def test_the_catalogue_of_bad_input_stops_before_the_host_changes(fresh_host, settings, tmp_path, bad, message):
    if fresh_host.suite != testbed.SUITES[0]:
        pytest.skip("settings are checked on the machine running pyinfra: one release shows it")
    bad = bad(tmp_path) if callable(bad) else bad
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", fresh_host, **{**settings, **bad}))
    assert run.returncode != 0 and f"host '{fresh_host.name}'" in run.output and message in run.output, run.output[-3000:]
    host_is_untouched(fresh_host)


def test_an_unreachable_host_is_named_and_nothing_runs(fresh_host, settings, tmp_path):
    if fresh_host.suite != testbed.SUITES[0]:
        pytest.skip("one release shows it")
    gone = testbed.Host(name="gone-host", port=testbed._free_port(), key=fresh_host.key)
    run = run_pyinfra(write_inventory(tmp_path / "inventory.py", gone, **settings))
    assert run.returncode != 0 and "gone-host" in run.output and "Could not connect" in run.output, run.output[-3000:]


def test_a_deploy_killed_while_installing_packages_leaves_what_the_next_run_finishes(fresh_host, settings, tmp_path):
    """As a lost connection or Ctrl-C would: pyinfra and the host's dpkg are killed mid-install.
    The next test's deploy must converge with no manual cleanup."""
    if fresh_host.suite != testbed.SUITES[0]:
        pytest.skip("one release shows it")
    inventory = write_inventory(tmp_path / "inventory.py", fresh_host, **settings)
    deploy = subprocess.Popen([str(Path(sys.executable).parent / "pyinfra"), "-y", str(inventory), "deploy.py"],
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while fresh_host.ssh("pgrep -x dpkg", check=False).returncode != 0:
            assert deploy.poll() is None and time.monotonic() < deadline, "the deploy never ran dpkg"
            time.sleep(0.2)
    finally:
        deploy.kill()
        deploy.wait()
    fresh_host.ssh("pkill -9 -x apt-get; pkill -9 -x dpkg; true")


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


def test_the_hub_user_cannot_use_docker(fresh_host):
    # The docker group is root on the host; the Hub reaches Docker from its container instead.
    assert "docker" not in fresh_host.ssh("id -nG jupyterhub").stdout.split()
    assert fresh_host.ssh("runuser -u jupyterhub -- docker ps -q", check=False).returncode != 0


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
