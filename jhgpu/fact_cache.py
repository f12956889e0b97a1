"""Facts read once while nothing on the host changes, and read ahead all at once.

pyinfra 3 runs a fact's command every time an operation asks for it, and operations ask both when
the deploy is planned and when it executes, so a no-op rerun asked 81 facts for some 40 distinct
answers, each an SSH round trip. Two things cut that down:

- Remembering: between two commands that change the host, the same fact with the same arguments
  has the same answer. It is kept, per host, until the host next runs a command that is not a
  fact's, or receives a file.
- Reading ahead: the facts a host was asked for in its last run (kept on this machine, under
  ~/.cache/jupytergpu/read-ahead/, names and arguments only) are read again when the deploy starts,
  in one command that runs them side by side. An answer read ahead is remembered like any other,
  so it is forgotten as soon as the host changes: reading ahead can make a run faster, never give
  it a stale answer. A fact no longer asked costs one more line in that command; a new one is read
  when asked.

Both lean on pyinfra's fact internals (pinned in requirements.txt) so that each answer is made by
the fact's own command and parser, exactly as pyinfra would.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import importlib
import json
import os
import re
import urllib.parse
from pathlib import Path

from pyinfra import logger
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.command import StringCommand
from pyinfra.api.facts import _MISSING_COMMAND_MARKER, ShortFactBase, _handle_fact_kwargs, _make_command
from pyinfra.api.host import Host
from pyinfra.connectors.fake import FakeConnector

_ANSWERS = "_jhgpu_fact_answers"  # per host: key -> answer, since the host last changed
_READING = "_jhgpu_reading_fact"  # per host: a fact's own command is running
_ASKED = "_jhgpu_facts_asked"  # per host: key -> what to ask again next run
_HOSTS_ASKED: list[Host] = []
READ_AHEAD_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jupytergpu" / "read-ahead"
_SECTION = "##JHGPU-READ-AHEAD"


def _forget(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not getattr(self, _READING, False):
            setattr(self, _ANSWERS, {})  # the host may change: every answer may be stale
        return method(self, *args, **kwargs)

    return wrapper


def _connection_digest(host: Host, cls, args, kwargs) -> str:
    """How the fact's command would reach the host (sudo, su, environment...), as a digest, so
    that no password is kept; an answer read as one user is never handed out as another's."""
    _, global_kwargs = _handle_fact_kwargs(host.state, host, cls, args, kwargs)
    connection = sorted((key, repr(value)) for key, value in global_kwargs.items() if key in CONNECTOR_ARGUMENT_KEYS)
    return hashlib.sha256(repr(connection).encode()).hexdigest()[:16]


def _key(cls, args, kwargs, connection: str) -> tuple:
    return (getattr(cls, "__module__", ""), getattr(cls, "__name__", cls), repr(tuple(args)),
            repr(sorted(kwargs.items())), connection)


def _answers(host: Host) -> dict:
    if getattr(host, _ANSWERS, None) is None:
        setattr(host, _ANSWERS, {})
    return getattr(host, _ANSWERS)


def _note_asked(host: Host, cls, args, kwargs, key: tuple) -> None:
    """Keep what can be asked again next run: a fact (not a short fact) with plain arguments."""
    if key in (getattr(host, _ASKED, None) or {}) or isinstance(cls, str) or issubclass(cls, ShortFactBase):
        return  # kept already (a fact is asked again and again), or not to be kept
    record = {"fact": f"{cls.__module__}.{cls.__name__}", "args": list(args), "kwargs": kwargs,
              "connection": key[-1]}
    try:
        if json.loads(json.dumps(record)) != record:
            return
    except (TypeError, ValueError):
        return
    if getattr(host, _ASKED, None) is None:
        setattr(host, _ASKED, {})
        _HOSTS_ASKED.append(host)
    getattr(host, _ASKED)[key] = record


def _remembered(method):
    @functools.wraps(method)
    def get_fact(self, name_or_cls, *args, **kwargs):
        key = _key(name_or_cls, args, kwargs, _connection_digest(self, name_or_cls, args, kwargs))
        answers = _answers(self)
        if key not in answers:
            setattr(self, _READING, True)
            try:
                answers[key] = method(self, name_or_cls, *args, **kwargs)
            finally:
                setattr(self, _READING, False)
        if not isinstance(self.connector, FakeConnector):
            _note_asked(self, name_or_cls, args, kwargs, key)
        return copy.deepcopy(answers[key])  # callers may change what they get

    return get_fact


def _record_file(host: Host) -> Path:
    return READ_AHEAD_DIR / (urllib.parse.quote(host.name, safe="") + ".json")


def _save_asked() -> None:
    for host in _HOSTS_ASKED:
        records = sorted(getattr(host, _ASKED).values(), key=lambda r: json.dumps(r, sort_keys=True))
        try:
            _record_file(host).parent.mkdir(parents=True, exist_ok=True)
            _record_file(host).write_text(json.dumps(records, indent=1) + "\n")
        except OSError as error:  # only a later run's speed depends on it
            logger.debug(f"could not keep the facts asked of {host.name}: {error}")


def _fact_class(name: str):
    module, _, attribute = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError):
        return None  # a fact renamed or removed since
    return cls if isinstance(cls, type) and not issubclass(cls, ShortFactBase) else None


def _planned_reads(host: Host, records: list[dict]) -> list[tuple]:
    """(key, fact, command) for each record still asked the same way."""
    reads = []
    for record in records:
        cls = _fact_class(record.get("fact", ""))
        if cls is None:
            continue
        args, kwargs = tuple(record["args"]), record["kwargs"]
        connection = _connection_digest(host, cls, args, kwargs)
        fact = cls()
        if connection != record["connection"] or fact.check_preconditions(host.state, host):
            continue
        fact_kwargs, _ = _handle_fact_kwargs(host.state, host, cls, args, kwargs)
        command = _make_command(fact.command, dict(fact_kwargs))
        requires = _make_command(fact.requires_command, dict(fact_kwargs))
        if requires:  # as pyinfra guards it: a missing program is told apart from no output
            command = StringCommand("if command -v", requires, ">/dev/null 2>&1; then (", command, ");",
                                    "else echo", f"'{_MISSING_COMMAND_MARKER}';", "fi")
        reads.append((_key(cls, args, kwargs, connection), fact, command))
    return reads


def _side_by_side(commands: list) -> StringCommand:
    """One shell command running each of `commands` at once, then printing each one's exit
    status and output in turn, under a section line."""
    bits: list = ['d=$(mktemp -d) || exit 1;']
    for index, command in enumerate(commands):
        bits += ["{ (", command, f') >"$d/{index}" 2>/dev/null; echo $? >"$d/{index}.rc"; }} &']
    bits += [f'wait; i=0; while [ $i -lt {len(commands)} ]; do',
             f'echo "{_SECTION} $i $(cat "$d/$i.rc")"; cat "$d/$i"; i=$((i+1)); done; rm -rf "$d"']
    return StringCommand(*bits)


def _sections(lines: list[str]) -> dict[int, tuple[int, list[str]]]:
    """index -> (exit status, output lines) from the side-by-side command's output."""
    sections: dict[int, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for line in lines:
        found = re.search(rf"{_SECTION} (\d+) (\d+)$", line)
        if not found:
            if current is not None:
                current.append(line)
            continue
        if found.start() and current is not None:  # the last output had no final newline
            current.append(line[:found.start()])
        current = []
        sections[int(found.group(1))] = (int(found.group(2)), current)
    return sections


def read_ahead(host: Host) -> None:
    """Read, in one command, the facts this host was asked for in its last run."""
    if isinstance(host.connector, FakeConnector):
        return
    try:
        records = json.loads(_record_file(host).read_text())
    except (OSError, ValueError):
        return  # the first run from this machine
    reads = _planned_reads(host, records)
    if not reads:
        return
    _, global_kwargs = _handle_fact_kwargs(host.state, host, reads[0][1].__class__, (), {})
    setattr(host, _READING, True)
    try:
        status, output = host.run_shell_command(
            _side_by_side([command for _, _, command in reads]), print_output=False, print_input=False,
            **{key: value for key, value in global_kwargs.items() if key in CONNECTOR_ARGUMENT_KEYS})
    finally:
        setattr(host, _READING, False)
    if not status:
        return
    answered = {}
    for index, (exit_status, lines) in _sections(output.stdout_lines).items():
        key, fact, _ = reads[index]
        if exit_status != 0:
            continue  # asked again when needed, and its error shown then, as pyinfra would
        try:
            answered[key] = fact.process(lines) if lines and lines != [_MISSING_COMMAND_MARKER] else fact.default()
        except Exception:  # noqa: BLE001 - the fact is read again when asked, and fails there
            continue
    _answers(host).update(answered)
    logger.debug(f"{host.print_prefix}read {len(answered)} of {len(reads)} facts ahead, in one command")


def install() -> None:
    """Wrap pyinfra's Host once: facts remembered, forgotten when the host changes, and the
    facts asked kept for the next run's read_ahead."""
    if getattr(Host, "_jhgpu_fact_cache", False):
        return
    Host.get_fact = _remembered(Host.get_fact)
    Host.run_shell_command = _forget(Host.run_shell_command)
    Host.put_file = _forget(Host.put_file)
    Host._jhgpu_fact_cache = True
    atexit.register(_save_asked)
