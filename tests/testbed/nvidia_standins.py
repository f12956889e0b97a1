"""Stand-ins for NVIDIA's packages, in a signed apt repository a test-bed host serves itself.

NVIDIA's repository and GPUs are out of reach, so the end-to-end test gives the deploy a
repository laid out like NVIDIA's (`<url>/$(ARCH)` with a signed InRelease, and the key at its
own URL) holding packages under NVIDIA's names:
- nvidia-container-toolkit, -base, libnvidia-container-tools and libnvidia-container1, at the
  version nvidia_container_toolkit_version defaults to and at an older one (to move between):
  `nvidia-container-runtime` hands every call to runc (adding the stand-in hook, where there is
  one, as NVIDIA's does), so `docker run --runtime nvidia` works and proves the daemon.json wiring;
- libcuda1 (Debian's driver library name): stands for a driver the admin installed.
And, outside the repository, two GPUs: an `nvidia-smi` that lists them and an
`nvidia-container-runtime-hook` that records what Docker's device requests gave each container
(`install_gpus`, below).

What they cannot prove: that NVIDIA's real packages install on these releases, that a GPU is
handed to a container (there is none), that CUDA sees only the GPUs requested, or anything about
the kernel module.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import textwrap
from pathlib import Path

def _default_toolkit_version() -> str:
    import runpy

    return runpy.run_path(str(Path(__file__).resolve().parents[2] / "group_data" / "all.py"))[
        "nvidia_container_toolkit_version"]


TOOLKIT_VERSION = _default_toolkit_version()
OLDER_TOOLKIT_VERSION = "1.19.1-1"
DRIVER_VERSION = "535.999.01-1"  # above any real 535 release, so apt never prefers Debian's
SERVE_DIR = "/srv/nvidia-standins"
PORT = 8089

RUNTIME = """#!/usr/bin/python3
# Stand-in for NVIDIA's runtime (tests only): no GPU here. Like NVIDIA's runtime in its legacy
# mode, it adds NVIDIA's hook as a prestart hook to each container it creates (where the stand-in
# hook is installed: tests/test_e2e_gpus.py), so the hook sees every container's
# NVIDIA_VISIBLE_DEVICES; then it hands the call to runc.
import json, os, sys

HOOK = "/usr/local/bin/nvidia-container-runtime-hook"
args = sys.argv[1:]
bundle = next((args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--bundle"), None)
if "create" in args and bundle and os.path.exists(HOOK):
    with open(os.path.join(bundle, "config.json")) as file:
        spec = json.load(file)
    spec.setdefault("hooks", {}).setdefault("prestart", []).append({"path": HOOK, "args": [HOOK, "prestart"]})
    with open(os.path.join(bundle, "config.json"), "w") as file:
        json.dump(spec, file)
os.execvp("runc", ["runc", *args])
"""


def _deb(out: Path, name: str, version: str, depends: str = "", files: dict[str, str] | None = None) -> str:
    """Build one package into `out`; return its entry for the repository's Packages index."""
    fields = {"Package": name, "Version": version, "Architecture": "amd64",
              "Maintainer": "test bed <testbed@localhost>", "Description": f"stand-in for {name} (tests only)"}
    if depends:
        fields["Depends"] = depends
    deb = out / f"{name}_{version}_amd64.deb"
    with tempfile.TemporaryDirectory() as root:
        Path(root, "DEBIAN").mkdir()
        Path(root, "DEBIAN", "control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
        for path, content in (files or {}).items():
            target = Path(root, path.lstrip("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(0o755)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, str(deb)], check=True,
                       capture_output=True)
    data = deb.read_bytes()
    fields.update({"Filename": f"./{deb.name}", "Size": str(len(data)), "SHA256": hashlib.sha256(data).hexdigest()})
    return "".join(f"{k}: {v}\n" for k, v in fields.items())


def _gpg(home: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
                           "--passphrase", "", *args], check=True, capture_output=True, **kwargs)


def build_repository(workdir: Path) -> Path:
    """The repository as a folder: gpgkey, stable/deb/amd64/{InRelease,Release,Packages,*.deb}."""
    root = workdir / "nvidia-standins"
    pool = root / "stable" / "deb" / "amd64"
    pool.mkdir(parents=True)
    toolkit = [_deb(pool, name, version, **kwargs) for version in (OLDER_TOOLKIT_VERSION, TOOLKIT_VERSION)
               for name, kwargs in [
                   ("libnvidia-container1", {}),
                   ("libnvidia-container-tools", {"depends": f"libnvidia-container1 (= {version})"}),
                   ("nvidia-container-toolkit-base", {"files": {"/usr/bin/nvidia-container-runtime": RUNTIME}}),
                   ("nvidia-container-toolkit", {"depends": f"nvidia-container-toolkit-base (= {version}), "
                                                            f"libnvidia-container-tools (= {version})"}),
               ]]
    packages = "\n".join([*toolkit, _deb(pool, "libcuda1", DRIVER_VERSION)])
    (pool / "Packages").write_text(packages)
    digest = hashlib.sha256(packages.encode()).hexdigest()
    (pool / "Release").write_text(textwrap.dedent(f"""\
        Origin: test bed stand-ins
        Label: nvidia-container-toolkit stand-ins
        Architectures: amd64
        Date: Thu, 01 Jan 2026 00:00:00 UTC
        SHA256:
         {digest} {len(packages.encode())} Packages
        """))
    home = workdir / "gnupg"
    home.mkdir(mode=0o700)
    _gpg(home, "--quick-generate-key", "test bed stand-ins <standins@localhost>", "ed25519", "sign", "never")
    _gpg(home, "--clearsign", "--output", str(pool / "InRelease"), str(pool / "Release"))
    (root / "gpgkey").write_bytes(_gpg(home, "--armor", "--export").stdout)
    return root


def serve(host, repository: Path) -> dict:
    """Copy the repository onto the host and serve it on the host's own 127.0.0.1 (the host
    cannot reach this machine); return the settings that point the deploy at it."""
    from testbed import testbed

    host.ssh(f"rm -rf {SERVE_DIR}")
    testbed.docker("cp", str(repository), f"{host.name}:{SERVE_DIR}")
    host.ssh(f"systemd-run --unit nvidia-standins python3 -m http.server {PORT} --bind 127.0.0.1 "
             f"--directory {SERVE_DIR}")
    host.ssh(f"for _ in $(seq 30); do python3 -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:{PORT}/gpgkey\")'"
             " 2>/dev/null && exit 0; sleep 1; done; exit 1")
    return {"nvidia_container_toolkit_repo_url": f"http://127.0.0.1:{PORT}/stable/deb",
            "nvidia_container_toolkit_key_url": f"http://127.0.0.1:{PORT}/gpgkey"}


def install_admins_driver(host) -> None:
    """What an admin who brings their own driver has: its library package (the stand-in)."""
    host.ssh(f"dpkg -i {SERVE_DIR}/stable/deb/amd64/libcuda1_{DRIVER_VERSION}_amd64.deb")



# --- GPUs, for the Hub's allocation (tests/test_e2e_gpus.py) -------------------------------------
# Two GPUs shaped like the H200 captured in tests/fixtures/nvidia/nvidia-smi-h200.txt; the UUIDs
# are made up. dockerd takes GPU device requests once `nvidia-container-runtime-hook` is on its
# PATH when it starts (moby's daemon/nvidia_linux.go): it sets NVIDIA_VISIBLE_DEVICES to the
# requested UUIDs and runs the hook as an OCI prestart hook. The stand-in hook records that and
# changes nothing, so runc starts the container as it is.
STANDIN_GPUS = [("0", "GPU-0a0a0a0a-0000-4000-8000-000000000000"), ("1", "GPU-1b1b1b1b-1111-4111-8111-111111111111")]
HOOK_LOG = "/var/log/nvidia-hook-standin.jsonl"

UTILIZATION_DIR = "/var/lib/nvidia-standin"  # <uuid>: the utilisation (%) the stand-in reports; 0 if missing

NVIDIA_SMI = """#!/bin/sh
# Stand-in for nvidia-smi (tests only): two GPUs, for the NvidiaGpus fact and the usage sampler
# (utilisation from UTILIZATION_DIR, which the test sets).
case "$1" in
  --query-gpu=uuid,name,utilization.gpu,memory.used,memory.total)
{usage};;
  --query-gpu=*)
{query};;
  -L)
{listing};;
  *) echo "stand-in nvidia-smi: only --query-gpu and -L" >&2; exit 1;;
esac
"""

HOOK = f"""#!/usr/bin/python3
# Stand-in for nvidia-container-runtime-hook (tests only): records which GPUs each container was
# given (NVIDIA_VISIBLE_DEVICES, set by dockerd from the device request) and changes nothing.
import json, sys

state = json.load(sys.stdin)
with open(state["bundle"] + "/config.json") as spec:
    env = dict(item.split("=", 1) for item in json.load(spec)["process"].get("env", []))
with open("{HOOK_LOG}", "a") as log:
    log.write(json.dumps({{"container": state["id"], "visible_devices": env.get("NVIDIA_VISIBLE_DEVICES")}}) + "\\n")
"""


def install_gpus(host, gpus: tuple[tuple[int, str], ...] = STANDIN_GPUS) -> list[str]:
    """Put the stand-in nvidia-smi and hook on the host's PATH, before Docker starts (the deploy
    installs it). `gpus`: (index, UUID) of each. Return the stand-in GPUs' UUIDs."""
    from testbed import testbed

    query = "\n".join(f"    echo '{index}, NVIDIA H200, {uuid}, 143771, {DRIVER_VERSION.split('-')[0]}, Disabled'"
                      for index, uuid in gpus)
    listing = "\n".join(f"    echo 'GPU {index}: NVIDIA H200 (UUID: {uuid})'" for index, uuid in gpus)
    usage = "\n".join(f"    echo \"{uuid}, NVIDIA H200, $(cat {UTILIZATION_DIR}/{uuid} 2>/dev/null || echo 0), 1024, 143771\""
                      for _, uuid in gpus)
    with tempfile.TemporaryDirectory() as folder:
        for name, text in (("nvidia-smi", NVIDIA_SMI.format(query=query, listing=listing, usage=usage)),
                           ("nvidia-container-runtime-hook", HOOK)):
            Path(folder, name).write_text(text)
            Path(folder, name).chmod(0o755)
            testbed.docker("cp", str(Path(folder, name)), f"{host.name}:/usr/local/bin/{name}")
    host.ssh("chown root:root /usr/local/bin/nvidia-smi /usr/local/bin/nvidia-container-runtime-hook")
    return [uuid for _, uuid in gpus]


def set_utilization(host, uuid: str, percent: int) -> None:
    """What the stand-in nvidia-smi reports as `uuid`'s utilisation from now on."""
    host.ssh(f"mkdir -p {UTILIZATION_DIR} && echo {int(percent)} > {UTILIZATION_DIR}/{uuid}")


def hook_records(host) -> dict[str, str | None]:
    """Container id -> the GPUs its device request named, as the hook saw them."""
    import json

    lines = host.ssh(f"cat {HOOK_LOG} 2>/dev/null || true").stdout.splitlines()
    return {record["container"]: record["visible_devices"] for record in map(json.loads, lines)}
