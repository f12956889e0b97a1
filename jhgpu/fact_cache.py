"""Each fact read once while nothing on the host changes.

pyinfra 3 runs a fact's command every time an operation asks for it, and operations ask both when
the deploy is planned and when it executes, so a no-op rerun asked 81 facts for some 40 distinct
answers, each an SSH round trip. Between two commands that change the host, the same fact with
the same arguments has the same answer: this keeps it, per host, until the host next runs a
command that is not a fact's, or receives a file. Installed once by deploy.py.
"""

from __future__ import annotations

import copy
import functools

from pyinfra.api.host import Host

_ANSWERS = "_jhgpu_fact_answers"  # per host: (fact, args) -> answer, since the host last changed
_READING = "_jhgpu_reading_fact"  # per host: a fact's own command is running


def _forget(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not getattr(self, _READING, False):
            setattr(self, _ANSWERS, {})  # the host may change: every answer may be stale
        return method(self, *args, **kwargs)

    return wrapper


def _remembered(method):
    @functools.wraps(method)
    def get_fact(self, name_or_cls, *args, **kwargs):
        key = (getattr(name_or_cls, "__module__", ""), getattr(name_or_cls, "__name__", name_or_cls),
               repr(args), repr(sorted(kwargs.items())))
        answers = getattr(self, _ANSWERS, None)
        if answers is None:
            answers = {}
            setattr(self, _ANSWERS, answers)
        if key not in answers:
            setattr(self, _READING, True)
            try:
                answers[key] = method(self, name_or_cls, *args, **kwargs)
            finally:
                setattr(self, _READING, False)
        return copy.deepcopy(answers[key])  # callers may change what they get

    return get_fact


def install() -> None:
    """Wrap pyinfra's Host once: facts remembered, forgotten when the host changes."""
    if getattr(Host, "_jhgpu_fact_cache", False):
        return
    Host.get_fact = _remembered(Host.get_fact)
    Host.run_shell_command = _forget(Host.run_shell_command)
    Host.put_file = _forget(Host.put_file)
    Host._jhgpu_fact_cache = True
