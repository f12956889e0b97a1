"""The test bed: disposable Debian hosts (systemd, sshd, their own Docker) reached over SSH.

Debian 12 (bookworm) by default; Debian 13 (trixie) where a test asks for it (`suite=`).

Used by the end-to-end tests and by `./dev sandbox`. Nothing here can be pulled from a registry,
so the base image is made with debootstrap and imported. Slow things are cached:
- the base and host images stay in the local Docker engine, tagged by a digest of their recipe;
- the SSH key lives in the cache folder (never in the repository).
Each host is a container publishing its sshd on 127.0.0.1 only, with a volume for its own
/var/lib/docker (overlay2 cannot sit on overlay2). `Host.remove()` deletes both.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jupyterhub-gpu-testbed"
DEBIAN_MIRROR = os.environ.get("TESTBED_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"  # the default test-bed host: Debian 12
SUITES = ("bookworm", "trixie")  # Debian 12 and 13: both are reachable from the test bed
LABEL = "jupyterhub-gpu-testbed"


def docker_cli() -> str:
    """Debian's client first: a newer client without buildx refuses BuildKit (see TESTBED notes)."""
    return os.environ.get("DOCKER") or ("/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker")


def docker(*args: str, check: bool = True, capture: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [docker_cli(), *args], check=check, text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None, **kwargs,
    )


def docker_engine_running() -> bool:
    return docker("info", check=False).returncode == 0


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


@contextlib.contextmanager
def _only_one(what: str):
    """Hold a lock on this machine while making `what` (an image, the key): test modules run side
    by side (./dev test), and the first to need it makes it while the others wait and reuse it."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f"{what.replace('/', '_').replace(':', '_')}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
    return sha.hexdigest()[:12]


def base_image(suite: str = SUITE) -> str:
    """A minimal Debian root filesystem, imported as an image (about 25 s the first time)."""
    ref = f"{LABEL}-base:{suite}-{_digest(suite, 'minbase')}"
    with _only_one(ref):
        if not image_exists(ref):
            _debootstrap(suite, ref)
    return ref


def _debootstrap(suite: str, ref: str) -> None:
    if not shutil.which("debootstrap"):
        raise RuntimeError("debootstrap is missing: apt-get install -y debootstrap")
    with tempfile.TemporaryDirectory(prefix="testbed-rootfs-") as rootfs:
        subprocess.run(
            ["debootstrap", "--variant=minbase", suite, rootfs, DEBIAN_MIRROR],
            check=True, stdout=subprocess.DEVNULL,
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        docker("import", "-", ref, stdin=tar.stdout)
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap root filesystem failed")


def host_image(suite: str = SUITE) -> str:
    """The base plus systemd, sshd and sudo, with apt sources as Debian's installer writes them:
    what a freshly installed server looks like."""
    base = base_image(suite)
    dockerfile = HERE / "host.Dockerfile"
    ref = f"{LABEL}-host:{_digest(base, DEBIAN_MIRROR, dockerfile.read_bytes())}"
    with _only_one(ref):
        if not image_exists(ref):
            docker("build", "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"MIRROR={DEBIAN_MIRROR}", "-t", ref,
                   "-f", str(dockerfile), str(HERE), capture=False, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return ref


def ssh_key() -> Path:
    """The test bed's private key, made once per machine and kept outside the repository."""
    key = CACHE_DIR / "id_ed25519"
    with _only_one("ssh-key"):
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", LABEL, "-f", str(key)], check=True)
    return key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Host:
    """One running test-bed host."""

    name: str
    port: int  # sshd, on 127.0.0.1
    key: Path
    published: dict[int, int] = field(default_factory=dict)  # host's port -> port on 127.0.0.1
    suite: str = SUITE  # its Debian release

    def url(self, port: int, path: str = "/") -> str:
        """The address on this machine of a service listening on the host's `port`."""
        return f"http://127.0.0.1:{self.published[port]}{path}"

    @property
    def volume(self) -> str:
        return f"{self.name}-docker"

    def inventory_data(self) -> dict:
        """pyinfra host data that reaches this host over SSH."""
        return {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": self.port,
            "ssh_user": "root",
            "ssh_key": str(self.key),
            "ssh_strict_host_key_checking": "no",
            "ssh_known_hosts_file": "/dev/null",
        }

    def ssh(self, command: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
        """Run a command on the host over SSH, as a person checking on it would."""
        return subprocess.run(
            ["ssh", "-q", "-i", str(self.key), "-p", str(self.port),
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1", command],
            check=check, text=True, capture_output=True, timeout=timeout,
        )

    def add_sudo_user(self, user: str = "deployer") -> dict:
        """An admin account that logs in with the test bed's key and does everything through
        sudo, the way Ubuntu servers are run (sudo logs each command to the journal). Returns
        the pyinfra host data that deploys as it."""
        self.ssh(f"id {user} >/dev/null 2>&1 || (useradd -m -s /bin/bash {user}"
                 f" && install -d -m 700 -o {user} -g {user} /home/{user}/.ssh"
                 f" && install -m 600 -o {user} -g {user} /root/.ssh/authorized_keys /home/{user}/.ssh/"
                 f" && echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{user})")
        return {"ssh_user": user, "_sudo": True}

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until sshd answers and systemd has finished booting."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                result = self.ssh("systemctl is-system-running --wait", check=False, timeout=60)
                last = result.stdout.strip() + result.stderr.strip()
                if result.returncode == 0 or last.startswith("degraded"):
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(1)
        logs = docker("logs", "--tail", "40", self.name, check=False)
        raise RuntimeError(f"test-bed host {self.name} not ready ({last}):\n{logs.stdout}{logs.stderr}")

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, check=False)
        docker("volume", "rm", "-f", self.volume, check=False)


HUB_PORT = 8000  # hub_port's default: published by every host, so a browser here reaches the Hub


def start_host(name: str | None = None, publish: tuple[int, ...] = (HUB_PORT,), suite: str = SUITE,
               shared: dict[str, str] | None = None) -> Host:
    """Start a fresh host (Debian `suite`) from the cached image and wait until it is reachable
    over SSH. The host's ports in `publish` are reachable on 127.0.0.1 too (see Host.url).
    `shared`: Docker volumes of this machine mounted in the host (volume -> path); hosts given
    the same volume share those files, as servers mounting one NFS export would."""
    image = host_image(suite)
    key = ssh_key()
    host = Host(name=name or f"{LABEL}-{uuid.uuid4().hex[:8]}", port=_free_port(), key=key,
                published={port: _free_port() for port in publish}, suite=suite)
    host.remove()
    docker("volume", "create", "--label", LABEL, host.volume)
    docker(
        "run", "-d", "--name", host.name, "--hostname", host.name.replace("_", "-")[:63],
        "--label", LABEL,
        # --privileged is refused on these machines; this set gives systemd and a nested dockerd.
        "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--device-cgroup-rule", "a *:* rwm", "--cgroupns=host",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        "-v", f"{host.volume}:/var/lib/docker",
        "-v", f"{key}.pub:/root/.ssh/authorized_keys:ro",
        "-p", f"127.0.0.1:{host.port}:22", *[f"--volume={volume}:{path}" for volume, path in (shared or {}).items()],
        *[f"-p127.0.0.1:{local}:{port}" for port, local in host.published.items()],
        image,
    )
    try:
        host.wait_ready()
    except Exception:
        host.remove()
        raise
    return host


def remove_all_hosts() -> None:
    """Remove every container and volume the test bed made (after an interrupted run)."""
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    volumes = docker("volume", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()
    if volumes:
        docker("volume", "rm", "-f", *volumes, check=False)


def save_image_archive(ref: str, dest: Path) -> Path:
    """`docker save` one local image into an archive, as an admin would for an air-gapped host."""
    docker("save", "-o", str(dest), ref)
    return dest


def build_marker_image(ref: str) -> str:
    """A tiny image (one file) to preload in tests; built here since nothing can be pulled."""
    if not image_exists(ref):
        with tempfile.TemporaryDirectory() as context:
            Path(context, "marker").write_text(ref)
            Path(context, "Dockerfile").write_text("FROM scratch\nCOPY marker /marker\nCMD [\"/marker\"]\n")
            docker("build", "-t", ref, context, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return ref


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=test-bed", "-c", "user.email=test-bed@localhost",
                           *args], check=True, text=True, capture_output=True).stdout.strip()


def _default(setting: str):
    """A setting's default, from the settings reference."""
    import runpy

    return runpy.run_path(str(HERE.parents[1] / "group_data" / "all.py"))[setting]


def _fixture_chain() -> list[dict]:
    """The default chain of group_data/all.py, less the images the fixture has no folder for
    (PyTorch): the fixture keeps upstream's layout, so the default contexts point into it."""
    return [image for image in _default("notebook_images")
            if (FIXTURES / "docker-stacks" / image["context"]).is_dir()]


FIXTURE_CHAIN = _fixture_chain()


# This machine's CA bundle: builds reach PyPI through the site's TLS-intercepting proxy.
BUILD_CA_CERTIFICATES = "/etc/ssl/certs/ca-certificates.crt"


def tiny_image(workdir: Path) -> dict:
    """A notebook_images entry for a one-line image on the root image, with a display name: for
    tests where the Hub needs an image to offer but the image chain is not under test."""
    context = workdir / "tiny-notebook"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text("ARG ROOT_IMAGE\nFROM $ROOT_IMAGE\n")
    return {"name": "tiny-notebook", "local_context": str(context), "parent": None, "display_name": "Tiny"}


PROXY_DOCKERFILE = """ARG BASE_IMAGE
FROM $BASE_IMAGE
# Stand-in for the official Caddy image, which cannot be pulled here: Debian's caddy package,
# laid out like the official image (its Caddyfile, XDG folders and command).
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends caddy ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data
WORKDIR /srv
EXPOSE 80 443
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
"""


def _standin_image(name: str, dockerfile: str, files: dict[str, str] | None = None) -> str:
    """An image standing in for an official one, built once on the Debian base from `dockerfile`
    (and `files`, {name: text}, executable, in its build context)."""
    base = base_image(IMAGES_SUITE)
    files = files or {}
    ref = f"{LABEL}-{name}:{_digest(base, dockerfile, *(f'{k}={v}' for k, v in sorted(files.items())))}"
    with _only_one(ref):
        if not image_exists(ref):
            with tempfile.TemporaryDirectory() as context:
                Path(context, "Dockerfile").write_text(dockerfile)
                for file_name, text in files.items():
                    Path(context, file_name).write_text(text)
                    Path(context, file_name).chmod(0o755)
                docker("build", "--build-arg", f"BASE_IMAGE={base}", "-t", ref, context, capture=False,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return ref


def proxy_image() -> str:
    """The stand-in for proxy_image's Caddy, built once from Debian's package."""
    return _standin_image("caddy", PROXY_DOCKERFILE)


def https_settings(workdir: Path) -> dict:
    """Settings for HTTPS through the proxy, on top of testbed_settings: the stand-in Caddy image,
    preloaded like the Hub's base. hub_tls is left to the caller."""
    settings = testbed_settings(workdir)
    image = proxy_image()
    return {**settings, "preload_images": [*settings["preload_images"], _archive(image, workdir)],
            "proxy_image": image}


REGISTRY_DOCKERFILE = """ARG BASE_IMAGE
FROM $BASE_IMAGE
# Stand-in for the official registry image, which cannot be pulled here: Debian's docker-registry
# (the same Distribution project), configured like the official image (port 5000, /var/lib/registry).
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry \\
 && rm -rf /var/lib/apt/lists/* \\
 && printf 'version: 0.1\\nstorage:\\n  filesystem:\\n    rootdirectory: /var/lib/registry\\nhttp:\\n  addr: :5000\\n' \\
      > /etc/docker/registry/config.yml
EXPOSE 5000
CMD ["docker-registry", "serve", "/etc/docker/registry/config.yml"]
"""


def registry_image() -> str:
    """The stand-in for registry_image, built once from Debian's package."""
    return _standin_image("registry", REGISTRY_DOCKERFILE)


def swarm_settings(workdir: Path) -> dict:
    """Settings for the Hub's server of a Swarm, on top of testbed_settings: the stand-in
    registry image, preloaded like the Hub's base."""
    settings = testbed_settings(workdir)
    image = registry_image()
    return {**settings, "preload_images": [*settings["preload_images"], _archive(image, workdir)],
            "registry_image": image}


def _archive(ref: str, workdir: Path) -> str:
    archive = workdir / f"{ref.replace(':', '_').replace('/', '_')}.tar"
    if not archive.exists():
        save_image_archive(ref, archive)
    return str(archive)


# The Hub's base and the fixture chain's root: a Debian 13 root filesystem from Debian's archive,
# the release of the official image hub_base_image names (debian:trixie-...-slim).
IMAGES_SUITE = "trixie"


# This project's patches the fixture's layout takes as upstream's: the JupyterHub install script
# (0002) and the GPU dashboard in the TensorFlow image (0004).
SHARED_PATCHES = [HERE.parent.parent / "files" / "docker-stacks-patches" / name for name in (
    "0002-base-notebook-jupyterhub-install-script.patch", "0004-tensorflow-notebook-gpu-dashboard.patch")]


def testbed_settings(workdir: Path) -> dict:
    """Settings that let a test-bed host deploy without registries: the fixture image chain
    instead of upstream's (which needs registries and conda channels), as a local git
    repository; a debootstrapped Debian 13 as the root image and as the Hub's base (the Hub's
    own Dockerfile is built on it, as on the official Debian image), preloaded from an archive;
    and this machine's CA bundle for builds."""
    repo = workdir / "docker-stacks"
    if not (repo / ".git").is_dir():
        shutil.copytree(FIXTURES / "docker-stacks", repo)
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "fixture")
    debian = base_image(IMAGES_SUITE)
    # The fixture's own patch, and the project's patches its layout takes (SHARED_PATCHES):
    # the fixture's base-notebook installs JupyterHub with the same script as upstream's.
    patches = workdir / "docker-stacks-patches"
    patches.mkdir(exist_ok=True)
    for patch in [*(FIXTURES / "docker-stacks-patches").glob("*.patch"), *SHARED_PATCHES]:
        shutil.copy(patch, patches)
    return {
        "hub_tls": "off",  # plain HTTP on HUB_PORT; the HTTPS proxy is tested on its own (https_settings)
        "preload_images": [_archive(debian, workdir)],
        "build_ca_certificates": BUILD_CA_CERTIFICATES,
        "notebook_root_image": debian,
        "hub_base_image": debian,
        "docker_stacks_repo": str(repo),
        "docker_stacks_ref": git(repo, "rev-parse", "HEAD"),
        "docker_stacks_patches_dir": str(patches),
        "notebook_images": [dict(image) for image in FIXTURE_CHAIN],
    }
