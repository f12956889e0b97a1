"""Recorded facts of freshly installed hosts, one per supported release.

The os-release fields are those the releases ship; the rest is what pyinfra's facts return on a
minimal server install (no Docker, no Hub user, /home and /mnt present).
"""

from __future__ import annotations

from typing import Any

OS_RELEASES = {
    ("ubuntu", "20.04"): ("focal", "Ubuntu 20.04.6 LTS"),
    ("ubuntu", "22.04"): ("jammy", "Ubuntu 22.04.5 LTS"),
    ("ubuntu", "24.04"): ("noble", "Ubuntu 24.04.3 LTS"),
    ("debian", "12"): ("bookworm", "Debian GNU/Linux 12 (bookworm)"),
}

SYSTEM_DIR = {"user": "root", "group": "root", "mode": 755}


def distribution(distro: str, version: str, codename: str, pretty: str) -> dict[str, Any]:
    major, _, minor = version.partition(".")
    return {
        "name": "Ubuntu" if distro == "ubuntu" else "Debian",
        "major": int(major),
        "minor": int(minor) if minor else None,
        "release_meta": {"ID": distro, "VERSION_ID": version, "VERSION_CODENAME": codename,
                         "PRETTY_NAME": pretty},
    }


def fresh_host(distro: str = "ubuntu", version: str = "20.04") -> dict[str, Any]:
    codename, pretty = OS_RELEASES[(distro, version)]
    existing_dirs = {"/home": SYSTEM_DIR, "/mnt": SYSTEM_DIR}
    if (distro, version) != ("ubuntu", "20.04"):
        existing_dirs["/etc/apt/keyrings"] = SYSTEM_DIR  # shipped from Ubuntu 22.04 / Debian 12
    release = distribution(distro, version, codename, pretty)
    return {
        "server.LinuxDistribution": release,
        "server.LinuxName": release["name"],
        "deb.DebPackages": {"ca-certificates": {"20240203"},
                            **({"linux-generic": {"5.4.0.216.208"}} if distro == "ubuntu" else
                               {"linux-image-amd64": {"6.1.158-1"}})},
        "files.Directory": lambda path: existing_dirs.get(path),
        "files.File": lambda path: None,
        "files.Link": lambda path: None,
        "files.FindInFile": lambda path, **_: None,
        "files.FileContents": lambda path: None,
        "files.Sha1File": lambda path: None,
        "files.FindFiles": lambda path, **_: [],
        "files.FindLinks": lambda path, **_: [],
        "files.FindDirectories": lambda path, **_: [],
        "server.TmpDir": "/tmp",
        "server.Os": "Linux",
        "server.Which": lambda command: f"/usr/bin/{command}" if command in ("curl", "useradd") else None,
        "apt.AptSources": [],
        "server.Users": {"root": {"home": "/root", "group": "root", "groups": [], "uid": 0,
                                  "gid": 0, "shell": "/bin/bash"}},
        "server.Groups": {"root"},
        "systemd.SystemdStatus": {},
        "systemd.SystemdEnabled": {},
        "jhgpu.facts.DockerImage": lambda ref: None,
        "jhgpu.facts.TreeDigest": lambda path: None,
        "jhgpu.facts.DockerContainer": lambda container: None,
        "jhgpu.facts.HubAccounts": lambda container, db_url: None,
        # A fresh server: GPUs in it, no driver yet. Facts are read once, so the last step's
        # view is the one a container would have once the driver runs.
        "jhgpu.facts.NvidiaDriverPackage": None,
        "jhgpu.facts.NvidiaKernelModule": None,
        "jhgpu.facts.GpuContainerView": lambda image: {"gpus": ["NVIDIA A100-SXM4-80GB"], "tensorflow": 1,
                                                       "error": None},
    }
