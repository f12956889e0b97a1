"""Facts read once while nothing on the host changes (jhgpu/fact_cache.py), counted on a
recorded-facts run: each count is an SSH round trip on a real host."""

import collections
from unittest import mock

import recorded
from recorded import run_deploy
from test_hub import converged_hub


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
    assert asked[("jhgpu.facts.DockerImages", "[]")] < 20  # one listing per change, not one per image


def test_a_fact_is_read_again_once_the_host_changed():
    asked, commands = counted_run(converged_hub(), gpu_enabled=False)
    assert any("apt-get" in c for c in commands)  # this recorded host installs packages...
    assert asked[("pyinfra.facts.deb.DebPackages", "[]")] > 1  # ...so later steps read them anew
