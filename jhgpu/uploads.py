"""Where files travel on their way to their place when the deploy logs in as a user who acts
through sudo: pyinfra uploads them as that user first, then copies them with sudo. By default it
uses /tmp, where the copy (an account request, a TLS key) is readable by every account on the
host until it is removed. UPLOAD_FOLDER is the login user's alone (mode 0700, in a root-owned
parent, so nobody can make it first); tasks/upload_folder.py makes it. With root logins files go
straight to their place."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api.command import FileUploadCommand

UPLOAD_FOLDER = "/var/lib/jupytergpu-uploads"


def use_upload_folder(state, config) -> None:
    """Every upload of this run through UPLOAD_FOLDER: files.put reads the deploy's `config`,
    pyinfra's own uploads the `state`'s. Set before any operation is made: pyinfra refuses an
    operation whose recorded arguments disagree with the config."""
    config.TEMP_DIR = state.config.TEMP_DIR = UPLOAD_FOLDER


def upload(src, dest: str) -> FileUploadCommand:
    """An operation's upload of `src` to `dest` through UPLOAD_FOLDER (pyinfra picks the host's
    temporary folder for commands once, and may have picked /tmp before the config said otherwise)."""
    return FileUploadCommand(src, dest, remote_temp_filename=host.get_temp_filename(dest, temp_directory=UPLOAD_FOLDER))
