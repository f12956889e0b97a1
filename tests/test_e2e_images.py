"""The notebook image chain, built for real on a test-bed host through the deploy.

The real upstream chain needs registries and conda channels this test bed cannot reach, so it
builds tests/fixtures/docker-stacks (same layout and build arguments) with its own patches.
The root image is the test bed's Debian base, preloaded from an archive; pip reaches PyPI through
the site's TLS proxy because build_ca_certificates hands the builds this machine's CA bundle.
"""

import re
import shutil
from contextlib import contextmanager
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_pyinfra, write_inventory
from testbed import testbed

pytestmark = pytest.mark.e2e

OWNER = "jupytergpu"
CHAIN = [image["name"] for image in testbed.FIXTURE_CHAIN] + ["frozen-notebook"]
git = testbed.git


class Scenario:
    """The settings of one host, changed step by step as an admin would."""

    def __init__(self, host, tmp):
        self.host, self.tmp = host, tmp
        self.settings = {"gpu_enabled": False, **testbed.testbed_settings(tmp)}
        self.repo = tmp / "docker-stacks"
        # A copy of the fixture patches, so a test can add a broken one.
        self.patches = tmp / "patches"
        shutil.copytree(self.settings["docker_stacks_patches_dir"], self.patches)
        self.settings["docker_stacks_patches_dir"] = str(self.patches)
        # An admin's own image, from a folder of theirs (the README's frozen-version example).
        self.frozen = tmp / "frozen-notebook"
        self.frozen.mkdir()
        (self.frozen / "Dockerfile").write_text(
            "ARG BASE_IMAGE\nFROM $BASE_IMAGE\nRUN echo frozen > \"${CONDA_DIR}/frozen.txt\"\n")
        self.settings["notebook_images"].append(
            {"name": "frozen-notebook", "local_context": str(self.frozen), "parent": "scipy-notebook",
             "display_name": "Frozen (admin's own)"})

    def deploy(self):
        return run_pyinfra(write_inventory(self.tmp / "inventory.py", self.host, **self.settings))

    def image_ids(self) -> dict[str, str]:
        refs = " ".join(f"{OWNER}/{name}:latest" for name in CHAIN)
        out = self.host.ssh(f"docker image inspect --format '{{{{.Id}}}}' {refs}").stdout.split()
        return dict(zip(CHAIN, out))

    def run_in(self, image, command):
        return self.host.ssh(f"docker run --rm {OWNER}/{image}:latest {command}", check=False)


@pytest.fixture(scope="module")
def scenario(fresh_host, tmp_path_factory):
    return Scenario(fresh_host, tmp_path_factory.mktemp("images"))


def built(run) -> list[str]:
    """Images the run built, in the order it built them."""
    prefix = f"Build {OWNER}/"
    return [name[len(prefix):].removesuffix(":latest") for name in run.changed_operations()
            if name.startswith(prefix)]


def test_first_deploy_builds_the_chain_in_order(scenario):
    run = scenario.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert built(run) == ["root-with-ca-certificates", *CHAIN, "hub"]  # the Hub image last


def test_images_are_labelled_with_their_input_digest(scenario):
    labels = scenario.host.ssh(
        "docker image inspect --format '{{index .Config.Labels \"org.jupytergpu.input-digest\"}}' "
        + " ".join(f"{OWNER}/{name}:latest" for name in CHAIN)).stdout.split()
    assert len(labels) == len(CHAIN) and all(len(label) == 64 for label in labels)
    assert len(set(labels)) == len(CHAIN)


def test_patches_were_applied_before_the_build(scenario):
    assert scenario.run_in("frozen-notebook", "cat /etc/jupytergpu-patched.txt").stdout.strip() == \
        "patched by this project"


def test_the_last_image_is_a_single_user_server(scenario):
    result = scenario.run_in("tensorflow-notebook", "jupyterhub-singleuser --version")
    assert result.returncode == 0, result.stderr
    # base-notebook pinned it to the Hub's version, given as the build argument JUPYTERHUB_VERSION.
    assert result.stdout.strip() == testbed._default("jupyterhub_version")
    assert scenario.run_in("tensorflow-notebook", "id -un").stdout.strip() == "jovyan"


def test_the_gpu_image_has_the_gpu_dashboard_from_the_shipped_patch(scenario):
    shown = scenario.run_in("tensorflow-notebook", "pip show jupyterlab-nvdashboard").stdout
    assert "Version: 0.15.0" in shown, shown
    assert "jupyterlab-nvdashboard" not in scenario.run_in("scipy-notebook", "pip list").stdout  # GPU images only


def test_builds_trust_the_extra_ca_certificates(scenario):
    result = scenario.run_in("base-notebook", "sh -c 'echo $PIP_CERT; grep -c BEGIN $PIP_CERT'")
    path, count = result.stdout.split()
    assert path == "/etc/ssl/certs/ca-certificates.crt" and int(count) > 0


def test_rerun_builds_nothing(scenario):
    run = scenario.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert run.changed_operations() == []


def test_changing_one_stage_rebuilds_it_and_its_descendants_only(scenario):
    before = scenario.image_ids()
    dockerfile = scenario.repo / "images" / "scipy-notebook" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'RUN echo "scipy, second edition" >> "${CONDA_DIR}/scipy-notebook.txt"\n')
    git(scenario.repo, "commit", "-qam", "scipy: second edition")
    scenario.settings["docker_stacks_ref"] = git(scenario.repo, "rev-parse", "HEAD")

    run = scenario.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert any(name.startswith("Check out docker-stacks at") for name in run.changed_operations())
    assert built(run) == ["scipy-notebook", "tensorflow-notebook", "frozen-notebook"]
    after = scenario.image_ids()
    for name in ["docker-stacks-foundation", "base-notebook", "minimal-notebook"]:
        assert after[name] == before[name], f"{name} was rebuilt"
    for name in ["scipy-notebook", "tensorflow-notebook", "frozen-notebook"]:
        assert after[name] != before[name], f"{name} was not rebuilt"
    assert "second edition" in scenario.run_in("tensorflow-notebook", "cat /opt/conda/scipy-notebook.txt").stdout
    # The superseded images (several GB each on a real server) are gone.
    assert "Remove images the rebuilds superseded" in run.changed_operations()
    for name in ["scipy-notebook", "tensorflow-notebook", "frozen-notebook"]:
        assert scenario.host.ssh(f"docker image inspect {before[name]}", check=False).returncode != 0, name
    assert scenario.deploy().changed_operations() == []


def test_a_deploy_killed_during_an_image_build_is_finished_by_the_next_run(scenario):
    dockerfile = scenario.repo / "images" / "scipy-notebook" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'RUN sleep 20 && echo "scipy, third edition" >> "${CONDA_DIR}/scipy-notebook.txt"\n')
    git(scenario.repo, "commit", "-qam", "scipy: third edition, slow to build")
    scenario.settings["docker_stacks_ref"] = git(scenario.repo, "rev-parse", "HEAD")
    inventory = write_inventory(scenario.tmp / "inventory.py", scenario.host, **scenario.settings)
    deploy = subprocess.Popen([str(Path(sys.executable).parent / "pyinfra"), "-y", str(inventory), "deploy.py"],
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while scenario.host.ssh("pgrep -f 'slee[p] 20'", check=False).returncode != 0:  # mid-build
            assert deploy.poll() is None and time.monotonic() < deadline, "the deploy never reached the build"
            time.sleep(0.5)
    finally:
        deploy.kill()  # as Ctrl-C or a lost connection would
        deploy.wait()
    scenario.host.ssh("pkill -f 'docke[r] build'; pkill -f 'docker-buil[d]x'; true")  # [r]: not this shell

    scenario.settings["build_progress_seconds"] = 5
    run = scenario.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert built(run)[:2] == ["scipy-notebook", "tensorflow-notebook"]
    # A long step is not silent: its image and step are shown as it starts, and every 5 s since.
    progress = re.findall(r"building jupytergpu/scipy-notebook:latest \[\d+:\d\d\]: #\d+ \[\d+/\d+\] RUN sleep 20",
                          run.output)
    assert len(progress) >= 4, run.output[-6000:]
    assert "third edition" in scenario.run_in("tensorflow-notebook", "cat /opt/conda/scipy-notebook.txt").stdout
    assert scenario.deploy().changed_operations() == []


def test_a_damaged_checkout_is_made_anew_without_rebuilding_anything(scenario):
    before = scenario.image_ids()
    checkout = "/home/jupyterhub/JupyterHubGPU/docker-stacks/images"
    scenario.host.ssh(f"rm {checkout}/minimal-notebook/Dockerfile && echo '# edited' >> {checkout}/base-notebook/Dockerfile")
    run = scenario.deploy()
    assert run.returncode == 0, run.output[-6000:]
    assert any(name.startswith("Check out docker-stacks at") for name in run.changed_operations())
    assert "# edited" not in scenario.host.ssh(f"cat {checkout}/base-notebook/Dockerfile").stdout
    assert scenario.host.ssh(f"test -f {checkout}/minimal-notebook/Dockerfile", check=False).returncode == 0
    assert built(run) == [] and scenario.image_ids() == before  # the same content: nothing to rebuild
    assert scenario.deploy().changed_operations() == []


def test_a_patch_that_no_longer_applies_stops_before_any_build(scenario):
    before = scenario.image_ids()
    ref = scenario.settings["docker_stacks_ref"]
    (scenario.patches / "0002-broken.patch").write_text(
        "Broken on purpose: its context matches nothing upstream.\n\n"
        "diff --git a/images/base-notebook/Dockerfile b/images/base-notebook/Dockerfile\n"
        "--- a/images/base-notebook/Dockerfile\n+++ b/images/base-notebook/Dockerfile\n"
        "@@ -1,2 +1,2 @@\n-FROM nothing-like-this\n+FROM something-else\n ARG NOPE\n")
    try:
        run = scenario.deploy()
        assert run.returncode != 0
        assert f"patch 0002-broken.patch does not apply to docker-stacks at {ref}" in run.output
        assert f"Build {OWNER}/" not in run.output  # no build started
        assert scenario.image_ids() == before
        marker = scenario.host.ssh("cat /home/jupyterhub/JupyterHubGPU/docker-stacks/.jhgpu-checkout").stdout
        assert f"ref {ref}" in marker and "0002-broken.patch" not in marker
    finally:
        (scenario.patches / "0002-broken.patch").unlink()


@contextmanager
def frozen_build_with(scenario, line: str):
    """The admin's own image given one more Dockerfile line, for the deploy inside; then as it was."""
    dockerfile = scenario.frozen / "Dockerfile"
    good = dockerfile.read_text()
    dockerfile.write_text(good + line + "\n")
    try:
        yield
    finally:
        dockerfile.write_text(good)


def test_a_failing_build_names_the_image_and_keeps_its_log(scenario):
    with frozen_build_with(scenario, "RUN echo 'the frozen build is broken' && exit 3"):
        run = scenario.deploy()
        assert run.returncode != 0
        assert f"building {OWNER}/frozen-notebook:latest failed" in run.output
        assert "the frozen build is broken" in run.output  # the end of the build log
        log = scenario.host.ssh("cat /home/jupyterhub/JupyterHubGPU/build-logs/frozen-notebook.log").stdout
        assert "the frozen build is broken" in log
    assert scenario.deploy().returncode == 0


def test_a_disk_full_during_a_build_is_named_and_the_next_run_converges(scenario):
    """The build's own filesystem refuses an 8 TiB file (ENOSPC, as a full disk would), without
    filling this machine's disk. Images already built and the Hub stay as they were."""
    before = scenario.image_ids()
    with frozen_build_with(scenario, "RUN fallocate -l 8T /tmp/fills-the-disk"):
        run = scenario.deploy()
        assert run.returncode != 0
        assert f"[{scenario.host.name}] building {OWNER}/frozen-notebook:latest failed: the host is out of disk space" \
            in run.output, run.output[-6000:]
        assert scenario.image_ids() == before
    assert scenario.deploy().returncode == 0


def test_a_jupyterhub_version_pypi_lacks_fails_at_once_naming_it_and_its_source(scenario):
    """Last in this module: the chain is left built for another JupyterHub version."""
    scenario.settings["jupyterhub_version"] = "5.5.99"  # no such release
    run = scenario.deploy()
    assert run.returncode != 0
    assert "JupyterHub 5.5.99 (jupyterhub_version) cannot be installed from PyPI" in run.output, run.output[-6000:]
    assert f"building {OWNER}/base-notebook:latest failed" in run.output
    assert f"Build {OWNER}/minimal-notebook" not in run.output  # stopped at the check, before anything else
