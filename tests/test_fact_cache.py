"""Facts read once while nothing on the host changes, and read ahead (jhgpu/fact_cache.py):
counted on a recorded-facts run (each count is an SSH round trip on a real host), and run for
real through pyinfra's @local connector."""

import collections
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import recorded
from recorded import run_deploy
from test_hub import converged_hub

from jhgpu import fact_cache

REPO = Path(__file__).resolve().parents[1]


def counted_run(facts: dict, **settings):
    asked = collections.Counter()
    original = recorded.RecordedHost.get

    def get(self, cls, kwargs):
        asked[(f"{cls.__module__}.{cls.__name__}", repr(sorted(kwargs.items())))] += 1
        return original(self, cls, kwargs)

    with mock.patch.object(recorded.RecordedHost, "get", get):
        commands = run_deploy(facts, **settings)
    return asked, commands


def test_a_fact_asked_again_before_any_change_is_not_read_again():
    asked, _ = counted_run(converged_hub(), gpu_enabled=False)
    # Asked by the preflight and several steps, never changed by the deploy.
    assert asked[("pyinfra.facts.server.LinuxDistribution", "[]")] == 1
    assert asked[("jhgpu.facts.docker.DockerImages", "[]")] < 20  # one listing per change, not one per image


def test_a_fact_is_read_again_once_the_host_changed():
    asked, commands = counted_run(converged_hub(), gpu_enabled=False)
    assert any("apt-get" in c for c in commands)  # this recorded host installs packages...
    assert asked[("pyinfra.facts.deb.DebPackages", "[]")] > 1  # ...so later steps read them anew


# Reading ahead, on this machine through pyinfra's @local connector: real commands, real files.
READ_AHEAD_DEPLOY = '''
from io import StringIO
from pyinfra import host
from pyinfra.operations import files
from jhgpu import fact_cache

fact_cache.install()
fact_cache.read_ahead(host)
files.directory(name="folder", path="{root}/folder", mode="755")
files.put(name="file", src=StringIO("wanted\\n"), dest="{root}/folder/file", mode="644")
'''


def local_deploy(tmp_path):
    deploy = tmp_path / "deploy.py"
    deploy.write_text(READ_AHEAD_DEPLOY.format(root=tmp_path / "host"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def run():
        done = subprocess.run([str(Path(sys.executable).parent / "pyinfra"), "-y", "--debug", "@local", str(deploy)],
                              cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        log = done.stdout + done.stderr
        return log, log.count("Running command on")

    return run


def test_a_rerun_reads_what_its_last_run_asked_in_one_command(tmp_path):
    run = local_deploy(tmp_path)
    first, first_commands = run()
    assert "facts ahead" not in first  # nothing kept yet from a last run
    run()  # asks what a converged host is asked: the file's checksum too
    rerun, rerun_commands = run()
    assert "read 3 of 3 facts ahead, in one command" in rerun  # the folder, the file, its checksum
    assert rerun_commands == 1 < first_commands


def test_an_answer_read_ahead_is_the_host_as_it_is_now(tmp_path):
    run = local_deploy(tmp_path)
    run()
    run()
    (tmp_path / "host" / "folder" / "file").write_text("changed by hand since\n")
    log, commands = run()
    assert "facts ahead" in log and commands > 1
    assert (tmp_path / "host" / "folder" / "file").read_text() == "wanted\n"


def test_the_side_by_side_output_is_split_per_fact_even_without_a_final_newline():
    marker = fact_cache._SECTION
    lines = [f"{marker} 0 0", "a", "b", f"no newline{marker} 1 1", f"{marker} 2 0"]
    assert fact_cache._sections(lines) == {0: (0, ["a", "b", "no newline"]), 1: (1, []), 2: (0, [])}
