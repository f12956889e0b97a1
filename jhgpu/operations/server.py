"""Stopping a deploy that cannot go on.
"""

from __future__ import annotations

import shlex

from pyinfra.api import operation

q = shlex.quote


@operation()
def stop_for_reboot(reason: str):
    """Stop the deploy, telling the admin why the host must reboot before it can go on."""
    message = (f"this host must reboot before the deploy can go on: {reason}. Reboot it and rerun the "
               "deploy, or set nvidia_allow_reboot = True to let the deploy reboot it.")
    yield f"echo {q(message)} >&2; exit 1"
