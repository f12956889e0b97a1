"""Run the real deploy.py against recorded facts and collect the commands it would run.

For what cannot run here (Ubuntu's archive, Docker's and NVIDIA's repositories, a GPU), tests
describe a host by its facts, in pyinfra's own style: facts in, commands out. The deploy is
planned and executed by pyinfra itself through its `@fake` connector, which runs nothing; every
fact the deploy asks for must be recorded, so a new fact lookup fails the test instead of
silently returning nothing.
"""

from __future__ import annotations

import os
import runpy
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable
from unittest import mock

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.operations import run_ops
from pyinfra.api.state import StateStage
from pyinfra.connectors.fake import FakeConnector
from pyinfra.context import ctx_state
from pyinfra_cli.util import load_deploy_file

REPO = Path(__file__).resolve().parent.parent
HOST = "@fake/recorded"


def default_settings() -> dict[str, Any]:
    """group_data/all.py as pyinfra loads it."""
    return {k: v for k, v in runpy.run_path(str(REPO / "group_data" / "all.py")).items()
            if not k.startswith("__")}


def fact_key(cls: type) -> str:
    """'server.LinuxDistribution' for pyinfra's facts, 'jhgpu.facts.nvidia.X' for ours."""
    module = cls.__module__.removeprefix("pyinfra.facts.")
    return f"{module}.{cls.__name__}"


class RecordedHost:
    """Facts for one host: a value per fact, or a function of the fact's arguments."""

    def __init__(self, facts: dict[str, Any | Callable[..., Any]]):
        self.facts = facts
        self.asked: list[str] = []

    def get(self, cls: type, kwargs: dict) -> Any:
        key = fact_key(cls)
        self.asked.append(key)
        if key not in self.facts:
            raise KeyError(f"fact {key}({kwargs}) was asked for but not recorded")
        value = self.facts[key]
        return value(**kwargs) if callable(value) else value


@contextmanager
def _in_repo():
    old = os.getcwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(old)


class Commands(list):
    """The commands a recorded deploy ran, and `uploads`: remote path -> text, for files
    uploaded from memory (rendered files, apt sources)."""

    uploads: dict[str, str]


def run_deploy(facts: dict[str, Any], deploy: str = "deploy.py", groups: dict[str, list[str]] | None = None,
               **settings: Any) -> Commands:
    """Plan and execute `deploy` (deploy.py, or one task file) for one recorded host; return the
    shell commands it ran (file uploads appear as 'PUT <remote path>'). `groups` puts hosts in
    inventory groups by name (HOST among them, or other "@fake/..." hosts, which are deployed with
    the same facts but whose commands are not returned)."""
    recorded = RecordedHost(facts)
    data = {**default_settings(), **settings, "fake_delay": 0, "fake_delay_jitter": 0}
    names = sorted({HOST, *(name for members in (groups or {}).values() for name in members)})
    inventory = Inventory(([(name, data) for name in names], {}),
                          **{group: (members, {}) for group, members in (groups or {}).items()})
    state = State(inventory, Config())
    state.cwd = str(REPO)
    commands = Commands()
    commands.uploads = {}

    def get_fact(state, host, cls, args=None, kwargs=None, **_):
        return recorded.get(cls, dict(kwargs or {}))

    original_run = FakeConnector.run_shell_command

    def run_shell_command(self, command, *args, **kwargs):
        if self.host.name == HOST:
            commands.append(command if isinstance(command, str) else command.get_raw_value())
        return original_run(self, command, *args, **kwargs)

    def put_file(self, filename_or_io, remote_filename, *args, **kwargs):
        if self.host.name == HOST:
            commands.append(f"PUT {remote_filename}")
            if hasattr(filename_or_io, "getvalue"):
                commands.uploads[remote_filename] = filename_or_io.getvalue()
        return True

    with _in_repo(), ctx_state.use(state), mock.patch("pyinfra.is_cli", True), \
            mock.patch("pyinfra.api.host.get_fact", get_fact), \
            mock.patch.object(FakeConnector, "run_shell_command", run_shell_command), \
            mock.patch.object(FakeConnector, "put_file", put_file):
        state.set_stage(StateStage.Connect)
        connect_all(state)
        state.set_stage(StateStage.Prepare)
        load_deploy_file(state, deploy)
        state.set_stage(StateStage.Execute)
        run_ops(state)
    failed = [host for host in state.failed_hosts]
    if failed:
        raise RuntimeError(f"recorded deploy failed on {failed}; commands so far: {commands}")
    return commands
