"""The deploy's private upload folder (jhgpu/uploads.py says why), before anything is uploaded."""

from pyinfra import host
from pyinfra.operations import files

from jhgpu.uploads import UPLOAD_FOLDER

files.directory(name=f"Create the deploy's private upload folder {UPLOAD_FOLDER}", path=UPLOAD_FOLDER,
                user=host.data.get("ssh_user") or "root", mode="700")
