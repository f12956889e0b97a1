import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from testbed import testbed  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: needs a Docker engine; starts real test-bed hosts")


def write_inventory(path: Path, host: testbed.Host, **settings) -> Path:
    """An inventory file for one test-bed host, with settings as host data."""
    data = {**host.inventory_data(), **settings}
    path.write_text(f"hosts = [({host.name!r}, {data!r})]\n")
    return path


class PyinfraRun:
    def __init__(self, completed: subprocess.CompletedProcess):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.output = completed.stdout + completed.stderr

    @property
    def results(self) -> dict:
        return json.loads(self.stdout)["results"]

    def changed_operations(self) -> list[str]:
        """Names of the operations that changed something on any host (without the task file).
        A failed run prints no JSON: its progress log says the same ("[host] Success")."""
        if self.returncode == 0:
            return [op["name"].split(" | ", 1)[-1] for op in self.results["operations"] if op["success"]]
        changed, current = [], None
        for line in self.output.splitlines():
            if line.startswith("--> Starting operation: "):
                current = line.removeprefix("--> Starting operation: ").strip().split(" | ", 1)[-1]
            elif current and line.strip().endswith("] Success"):
                changed.append(current)
        return changed


def run_pyinfra(inventory: Path, *args: str, timeout: int = 1800, deploy: str = "deploy.py") -> PyinfraRun:
    """`pyinfra -y --json INVENTORY deploy.py`, run from the repository like an admin would."""
    command = [str(Path(sys.executable).parent / "pyinfra"), "-y", "--json", str(inventory), deploy, *args]
    completed = subprocess.run(command, cwd=REPO, text=True, capture_output=True, timeout=timeout,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return PyinfraRun(completed)


class DeployedHub:
    """One test-bed host with the Hub deployed, and the settings an admin would change."""

    def __init__(self, host: testbed.Host, tmp: Path, settings: dict):
        self.host, self.tmp, self.settings = host, tmp, settings

    def deploy(self) -> PyinfraRun:
        return run_pyinfra(write_inventory(self.tmp / "inventory.py", self.host, **self.settings))

    def url(self, path: str) -> str:
        return self.host.url(testbed.HUB_PORT, path)

    def wait_for_hub(self, answering: bool = True, seconds: int = 60) -> None:
        """Until the Hub answers its health check on the host (or, `answering` False, stops)."""
        deadline = time.monotonic() + seconds
        url = f"http://127.0.0.1:{testbed.HUB_PORT}/hub/health"
        while (self.host.ssh(f"curl -sf -o /dev/null --max-time 3 {url}", check=False).returncode == 0) != answering:
            assert time.monotonic() < deadline, f"the Hub did not {'answer' if answering else 'stop answering'}"
            time.sleep(1)


@pytest.fixture(scope="session")
def docker_engine():
    if not testbed.docker_engine_running():
        pytest.fail("no Docker engine is running: start one (./dev test does) before the e2e tests")


@pytest.fixture(scope="module")
def fresh_host(docker_engine):
    """A new test-bed host for one test module, removed afterwards with its volume."""
    host = testbed.start_host()
    yield host
    host.remove()


@pytest.fixture(scope="session")
def playwright():
    """Playwright's API, once per run (it cannot be started twice in one thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright):
    """Headless Chromium, shared by the browser tests."""
    from hub_browser import launch_chromium

    browser = launch_chromium(playwright)
    yield browser
    browser.close()
