"""Apt source lines that add what a step needs to a host's archive, beside the sources the host
already has (the installer's, a cloud image's, an admin's mirror). Decisions only, no I/O.

Repeating what the host's sources name is not harmless: apt warns "Target Packages (...) is
configured multiple times" when one URI, suite and component appear twice, and refuses to work
at all ("Conflicting values set for option Signed-By") when two entries for one URI and suite
name different keys. So a suite the host already uses is extended at the host's own URI, with
the host's own options, by the components it lacks; only a suite it lacks comes from the
deploy's mirror setting.
"""

from __future__ import annotations

from dataclasses import dataclass

# Options of an existing entry that a line for the same URI and suite must repeat.
KEPT_OPTIONS = ("arch", "signed-by", "trusted")


@dataclass(frozen=True)
class WantedSuite:
    uri: str  # where it comes from when the host's sources do not name the suite yet
    suite: str  # "bookworm-security"
    components: tuple[str, ...]  # every component the step needs from it


def _same_uri(one: str, other: str) -> bool:
    return one.rstrip("/") == other.rstrip("/")


def _options(repo) -> str:
    options = repo.get("options") or {}
    parts = []
    for key in KEPT_OPTIONS:
        value = options.get(key)
        if value:
            parts.append(f"{key}={','.join(value) if isinstance(value, list) else value}")
    return f"[{' '.join(parts)}] " if parts else ""


def lines_adding(wanted: list[WantedSuite], existing: list) -> list[str]:
    """One-line `deb` entries that give the host every wanted suite and component, given the
    entries its other sources already have (pyinfra's AptSources, as dicts or AptRepo). An
    empty list when they have everything."""
    lines = []
    for want in wanted:
        named = [repo for repo in existing if repo["type"] == "deb" and repo["distribution"] == want.suite]
        if not named:
            lines.append(f"deb {want.uri} {want.suite} {' '.join(want.components)}")
            continue
        first = named[0]
        present = {component for repo in named if _same_uri(repo["url"], first["url"])
                   for component in repo["components"]}
        missing = [component for component in want.components if component not in present]
        if missing:
            lines.append(f"deb {_options(first)}{first['url']} {want.suite} {' '.join(missing)}")
    return lines
