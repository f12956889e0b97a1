"""Facts about folders: digests of what a build would see, owners by number.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class TreeDigest(FactBase):
    """A sha256 over the names and contents of every file in a folder (but `exclude`, a file
    at its top), or None if it is missing. File times and owners are left out: only what a
    build would see counts."""

    def command(self, path: str, exclude: str = "") -> str:
        path = shlex.quote(path)
        skip = f" ! -path {shlex.quote('./' + exclude)}" if exclude else ""
        return (f"if [ -d {path} ]; then cd {path} && find . \\( -type f -o -type l \\){skip} -print0"
                " | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1; fi")

    def process(self, output):
        return "".join(output).strip() or None


class TreeDigests(FactBase):
    """TreeDigest of several folders in one command: {path: digest, or None when missing}."""

    def command(self, paths: list[str]) -> str:
        return "; ".join(f"printf '%s\\t%s\\n' {shlex.quote(path)} \"$({TreeDigest().command(path)})\""
                         for path in paths)

    def process(self, output):
        digests = {}
        for line in output:
            path, _, digest = line.rstrip("\n").rpartition("\t")
            if path:
                digests[path] = digest.strip() or None
        return digests


class FolderIds(FactBase):
    """A folder's owner, group and mode as numbers ("1000 100 2770"), or None if it is missing.
    By number: uid 1000 has a different name (or none) on every host."""

    def command(self, path: str) -> str:
        return f"if [ -d {shlex.quote(path)} ]; then stat -c '%u %g %a' {shlex.quote(path)}; fi"

    def process(self, output):
        return "".join(output).strip() or None
