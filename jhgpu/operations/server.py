"""Stopping a deploy that cannot go on; folders owned by number.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from jhgpu.facts.files import FolderIds

q = shlex.quote


@operation()
def stop_for_reboot(reason: str):
    """Stop the deploy, telling the admin why the host must reboot before it can go on."""
    message = (f"this host must reboot before the deploy can go on: {reason}. Reboot it and rerun the "
               "deploy, or set nvidia_allow_reboot = True to let the deploy reboot it.")
    yield f"echo {q(message)} >&2; exit 1"


@operation()
def folder_owned_by_ids(path: str, uid: int, gid: int, mode: str):
    """A folder owned by `uid`:`gid` with `mode`, by number (files.directory compares names, and
    uid 1000's name differs from host to host). Never emptied."""
    if host.get_fact(FolderIds, path=path) == f"{uid} {gid} {mode}":
        host.noop(f"{path} is {uid}:{gid}, mode {mode}")
        return
    yield f"mkdir -p {q(path)} && chown {uid}:{gid} {q(path)} && chmod {q(mode)} {q(path)}"
