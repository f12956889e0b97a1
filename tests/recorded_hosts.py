"""Recorded facts of hosts, one fresh host per supported release plus the driver states the
NVIDIA tests need. Where each value comes from is in tests/fixtures/README.md: package names and
versions are what the archives list (2026-11), and values marked "constructed" there are not.

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
    ("debian", "13"): ("trixie", "Debian GNU/Linux 13 (trixie)"),
}

# The kernel metapackage a fresh install has, at the version its archive lists.
KERNELS = {
    ("ubuntu", "20.04"): {"linux-generic": "5.4.0.216.208"},
    ("ubuntu", "22.04"): {"linux-generic": "5.15.0.194.171"},
    ("ubuntu", "24.04"): {"linux-generic": "6.8.0-139.139"},
    ("debian", "12"): {"linux-image-amd64": "6.1.176-1"},
    ("debian", "13"): {"linux-image-amd64": "6.12.117-1"},
}


def real(version: str) -> dict:
    return {"version": version, "depends": []}


def transitional(version: str, to: str) -> dict:
    """A retired branch's package: its own version, depending on the newer branch's package."""
    return {"version": version, "depends": [to]}


def utils(branch: str) -> str:
    return f"nvidia-utils-{branch}-server"


def modules(branch: str, flavour: str = "generic") -> str:
    return f"linux-modules-nvidia-{branch}-server-{flavour}"


# What the AptCandidates fact returns on each release: the "-server" branches its archive offers
# (a branch stands as its nvidia-utils package) and Canonical's signed module metapackages.
ARCHIVES: dict[tuple[str, str], dict[str, dict]] = {
    ("ubuntu", "20.04"): {
        utils("470"): real("470.239.06-0ubuntu0.20.04.1"),
        utils("535"): real("535.247.01-0ubuntu0.20.04.1"),
        utils("550"): real("550.144.03-0ubuntu0.20.04.1"),
        modules("535"): real("5.4.0-216.236"),
        modules("550"): real("5.4.0-216.236"),
    },
    ("ubuntu", "22.04"): {
        utils("450"): real("450.248.02-0ubuntu0.22.04.1"),
        utils("535"): transitional("535.309.01-0ubuntu0.22.04.2", utils("580")),
        utils("565"): transitional("565.57.01-0ubuntu0.22.04.5", utils("580")),
        utils("570"): real("570.211.01-0ubuntu1.22.04.1"),
        utils("580"): real("580.159.03-0ubuntu0.22.04.1"),
        utils("595"): real("595.71.05-0ubuntu0.22.04.1"),
        modules("570"): real("5.15.0-203.213"),
        modules("580"): real("5.15.0-203.213"),
        modules("580", "open-generic"): real("5.15.0-203.213"),
        modules("595"): real("5.15.0-203.213"),
    },
    ("ubuntu", "24.04"): {
        utils("470"): real("470.256.02-0ubuntu0.24.04.1"),
        utils("535"): transitional("535.309.01-0ubuntu0.24.04.2", utils("580")),
        utils("565"): transitional("565.57.01-0ubuntu0.24.04.4", utils("580")),
        utils("570"): real("570.211.01-0ubuntu1.24.04.1"),
        utils("575"): transitional("575.57.08-0ubuntu0.24.04.3", utils("580")),
        utils("580"): real("580.173.02-0ubuntu0.24.04.1"),
        utils("595"): real("595.71.05-0ubuntu0.24.04.1"),
        modules("570"): real("6.8.0-149.149"),
        modules("580"): real("6.8.0-149.149"),
        modules("580", "open-generic"): real("6.8.0-149.149"),
        modules("580", "generic-hwe-24.04"): real("7.0.0-28.28~24.04.1"),
        modules("595"): real("6.8.0-149.149"),
        modules("550", "generic-hwe-24.04"): transitional("6.17.0-22.22~24.04.1", modules("580", "generic-hwe-24.04")),
    },
    # A fresh Debian host has no non-free component yet: the deploy adds it.
    ("debian", "12"): {},
    ("debian", "13"): {},
}

# Debian's driver once contrib, non-free and -security are enabled (apt-cache policy against
# Debian's archive, 2026-11): bookworm's open modules lag its security update of the driver.
DEBIAN_NON_FREE = {
    ("debian", "12"): {"nvidia-kernel-dkms": real("535.309.01-0+deb12u1"),
                       "nvidia-open-kernel-dkms": real("535.261.03-1")},
    ("debian", "13"): {"nvidia-kernel-dkms": real("550.163.01-2"), "nvidia-open-kernel-dkms": real("550.163.01-2")},
}

SYSTEM_DIR = {"user": "root", "group": "root", "mode": 755}

# GPUs on the PCI bus (NvidiaPciDevices), ids from the open-gpu-kernel-modules README (580.142):
# A100 SXM4 80GB (Ampere), H100 80GB HBM3 (Hopper), B200 (Blackwell), RTX PRO 6000 Blackwell, GH200;
# Tesla P100 16GB (Pascal, 10de:15f8) and V100 SXM2 (Volta, 10de:1db1) from the PCI id database.
A100 = {"slot": "0000:17:00.0", "device": "20b2"}
H100 = {"slot": "0000:17:00.0", "device": "2330"}
B200 = {"slot": "0000:17:00.0", "device": "2901"}
RTX_PRO_6000 = {"slot": "0000:65:00.0", "device": "2bb1"}
GH200 = {"slot": "0009:01:00.0", "device": "2342"}
P100 = {"slot": "0000:3b:00.0", "device": "15f8"}
V100 = {"slot": "0000:3b:00.0", "device": "1db1"}


def repo(url: str, suite: str, components: str, **options) -> dict:
    return {"type": "deb", "url": url, "distribution": suite, "components": components.split(), "options": options}


def installer_sources(codename: str) -> list[dict]:
    """/etc/apt/sources.list as Debian's installer writes it (apt-setup), deb-src lines aside."""
    return [repo("http://deb.debian.org/debian/", codename, "main non-free-firmware"),
            repo("http://security.debian.org/debian-security", f"{codename}-security", "main non-free-firmware"),
            repo("http://deb.debian.org/debian/", f"{codename}-updates", "main non-free-firmware")]


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
    kernel = {name: {kernel_version} for name, kernel_version in KERNELS[(distro, version)].items()}
    return {
        "server.LinuxDistribution": release,
        "server.LinuxName": release["name"],
        "deb.DebPackages": {"ca-certificates": {"20240203"}, **kernel},
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
        "jhgpu.facts.docker.DockerImages": {},
        "jhgpu.facts.files.TreeDigest": lambda path, exclude="": None,
        "jhgpu.facts.files.TreeDigests": lambda paths: {path: None for path in paths},
        "jhgpu.facts.docker.DanglingImages": lambda label: [],
        "jhgpu.facts.hub.HubContainers": lambda label: [],
        "jhgpu.facts.hub.HubAnswers": lambda container: True,
        "jhgpu.facts.apt.DpkgInterrupted": False,
        "server.Hostname": "gpu01",
        "jhgpu.facts.iptables.WallRules": lambda chains, network=None, bridge=None, hub=None, proxy=None: None,
        "jhgpu.facts.docker.NetworkDriver": lambda network: None,
        "jhgpu.facts.server.HostAddresses": [],
        "jhgpu.facts.files.FolderIds": lambda path: None,
        # Ubuntu's and Debian's kernels build esp4 as a module (kernel/net/ipv4/esp4.ko).
        "jhgpu.facts.server.KernelHasEsp": True,
        "jhgpu.facts.hub.HubAccounts": lambda container, db_url: None,
        "jhgpu.facts.apt.AptCandidates": lambda pattern: dict(ARCHIVES[(distro, version)]),
        # A fresh server: GPUs in it, no driver yet. Facts are read once, so the last step's
        # view is the one a container would have once the driver runs.
        "jhgpu.facts.nvidia.NvidiaDriverPackage": None,
        "jhgpu.facts.nvidia.NvidiaKernelModule": None,
        "jhgpu.facts.nvidia.NvidiaKernelModuleFlavour": None,
        "jhgpu.facts.nvidia.NvidiaPciDevices": [A100],
        "jhgpu.facts.apt.OtherAptSources": lambda besides: installer_sources(codename) if distro == "debian" else [],
        "jhgpu.facts.nvidia.NvidiaGpus": None,  # no driver, so no nvidia-smi
        "jhgpu.facts.nvidia.GpuContainerView": lambda image: {"gpus": ["NVIDIA A100-SXM4-80GB"], "tensorflow": 1,
                                                       "error": None},
    }


def with_archive(facts: dict[str, Any], extra: dict[str, dict]) -> dict[str, Any]:
    """The host's apt candidates with `extra` added or replaced (a changed archive)."""
    archive = {**facts["jhgpu.facts.apt.AptCandidates"](pattern=""), **extra}
    return {**facts, "jhgpu.facts.apt.AptCandidates": lambda pattern: dict(archive)}


def with_driver(facts: dict[str, Any], packages: list[str], installed: str, loaded: str | None,
                library: str = "libnvidia-compute-580-server") -> dict[str, Any]:
    """A host with these driver packages installed, userspace driver `installed` (from package
    `library`), kernel module `loaded` (None: not loaded)."""
    debs = {**facts["deb.DebPackages"], **{name: {f"{installed}-0ubuntu1"} for name in packages}}
    open_modules = any(name.endswith("-open") or "-open-" in name for name in packages)
    return {**facts, "deb.DebPackages": debs,
            "jhgpu.facts.nvidia.NvidiaDriverPackage": {"package": library, "version": installed},
            "jhgpu.facts.nvidia.NvidiaKernelModule": loaded,
            "jhgpu.facts.nvidia.NvidiaKernelModuleFlavour": loaded and ("open" if open_modules else "proprietary")}
