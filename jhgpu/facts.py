"""Custom pyinfra facts. Query one by hand, e.g.
    pyinfra inventory.py fact jhgpu.facts.DockerImages
"""

from __future__ import annotations

import json
import re
import shlex

from pyinfra.api import FactBase


class DockerImages(FactBase):
    """Every tagged local image, by reference: {"repo:tag": {"id": ..., "labels": {...}, "digests":
    ["registry/repo@sha256:..."]}} ({} without Docker; digests: where it was pushed or pulled). One command for all of them: the deploy asks about a dozen images (see
    `image_of`)."""

    requires_command = "docker"

    def command(self) -> str:
        return ("docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' | sort -u"
                " | xargs -r docker image inspect --format"
                " '{{json .RepoTags}} {{json .Id}} {{json .RepoDigests}} {{json .Config.Labels}}'"
                " 2>/dev/null || true")

    def process(self, output):
        images = {}
        for line in (line.strip() for line in output):
            if line:
                tags, image_id, digests, labels = line.split(" ", 3)
                for tag in json.loads(tags) or []:
                    images[tag] = {"id": json.loads(image_id), "labels": json.loads(labels) or {},
                                   "digests": json.loads(digests) or []}
        return images


def image_of(images: dict, ref: str) -> dict | None:
    """One image of the DockerImages fact, found as Docker names it ("debian:13" for
    "docker.io/library/debian:13", ":latest" when no tag is given); None when it is missing."""
    name = ref.split("@", 1)[0]
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return (images or {}).get(name)


class DanglingImages(FactBase):
    """Ids of untagged images carrying `label` that no container uses: what this deploy's
    rebuilds superseded and `docker image prune` would remove. (One a user's server still runs
    is left out, or every rerun would try, and fail, to remove it.)"""

    requires_command = "docker"

    def command(self, label: str) -> str:
        return (f"docker images -q --no-trunc --filter dangling=true --filter label={shlex.quote(label)}"
                " | sed 's/^/dangling /'; docker ps -aq | xargs -r docker container inspect --format 'used {{.Image}}'")

    def process(self, output):
        found = {"dangling": set(), "used": set()}
        for line in output:
            kind, _, image = line.strip().partition(" ")
            if kind in found and image:
                found[kind].add(image)
        return sorted(found["dangling"] - found["used"])


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


class HubContainers(FactBase):
    """Every container carrying `label` (the Hub containers this deploy made, whatever their
    Compose project): [{"name", "status", "restarting", "image", "labels"}]. "status" is Docker's
    ("running", "restarting", "exited"...): a crash-looping container is not "running" for long."""

    requires_command = "docker"

    def command(self, label: str) -> str:
        return (f"docker ps -aq --filter label={shlex.quote(label)} | xargs -r docker container inspect --format"
                " '{{json .Name}} {{json .State.Status}} {{json .State.Restarting}} {{json .Image}}"
                " {{json .Config.Labels}}'")

    def process(self, output):
        containers = []
        for line in (line.strip() for line in output):
            if line:
                name, status, restarting, image, labels = line.split(" ", 4)
                containers.append({"name": json.loads(name).lstrip("/"), "status": json.loads(status),
                                   "restarting": json.loads(restarting), "image": json.loads(image),
                                   "labels": json.loads(labels) or {}})
        return containers


class EgressRules(FactBase):
    """The firewall rules that keep the Hub network's containers from blocked addresses:
    {"bridge": the network's bridge ("br-..."; None without the network), "chain": the lines of
    `iptables -S <chain>`, "jumps": DOCKER-USER's jumps to it}."""

    requires_command = "iptables"

    def command(self, network: str, chain: str) -> str:
        return (f"id=$(docker network ls -q --no-trunc --filter name=^{shlex.quote(network)}$ 2>/dev/null);"
                f" echo \"bridge ${{id:+br-$(printf %s \"$id\" | cut -c1-12)}}\";"
                f" iptables -S {chain} 2>/dev/null | sed 's/^/chain /';"
                f" iptables -S DOCKER-USER 2>/dev/null | grep -- '-j {chain}$' | sed 's/^/jump /'; true")

    def process(self, output):
        found = {"bridge": None, "chain": [], "jumps": []}
        for line in (line.strip() for line in output):
            kind, _, rest = line.partition(" ")
            if kind == "bridge":
                found["bridge"] = rest or None
            elif kind == "chain":
                found["chain"].append(rest)
            elif kind == "jump":
                found["jumps"].append(rest)
        return found


HUB_HEALTH = "http://127.0.0.1:8000/hub/health"  # inside the Hub's container, whatever is published


def hub_health_command(container: str) -> str:
    """Succeeds when the Hub in `container` answers its health check (asked from inside, so it
    works whether the Hub's port is published or only the proxy's)."""
    probe = f"import urllib.request; urllib.request.urlopen({HUB_HEALTH!r}, timeout=5)"
    return f"docker exec {shlex.quote(container)} python3 -c {shlex.quote(probe)} >/dev/null 2>&1"


class DpkgInterrupted(FactBase):
    """Whether dpkg was interrupted mid-way (a killed deploy, a lost connection): packages left
    unpacked or half-configured, which apt refuses to work on until `dpkg --configure -a`."""

    def command(self) -> str:
        return "if [ -n \"$(ls -A /var/lib/dpkg/updates 2>/dev/null)$(dpkg --audit 2>/dev/null)\" ]; then echo yes; fi"

    def process(self, output):
        return "".join(output).strip() == "yes"


class HubAnswers(FactBase):
    """Whether the Hub in `container` answers its health check, within a few seconds."""

    requires_command = "docker"

    def command(self, container: str) -> str:
        return f"for _ in 1 2 3; do {hub_health_command(container)} && echo yes && exit 0; sleep 1; done; echo no"

    def process(self, output):
        return "".join(output).strip().endswith("yes")


class HubAccounts(FactBase):
    """The Hub's accounts (NativeAuthenticator's) as {name: authorized}, or None when the Hub
    container is not running. Waits for a Hub that is still starting. The account tool speaks
    JSON, so no username (a sign-up may hold any character) can pose as another."""

    requires_command = "docker"

    def command(self, container: str, db_url: str) -> str:
        container = shlex.quote(container)
        return (f"if [ \"$(docker container inspect --format '{{{{.State.Running}}}}' {container} 2>/dev/null)\""
                f" = true ]; then echo running; docker exec {container} jupytergpu-hub-accounts"
                f" {shlex.quote(db_url)} list; fi")

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        if not lines or lines[0] != "running":
            return None
        return {account["name"]: account["authorized"] for account in json.loads(lines[-1])}


class AptCandidates(FactBase):
    """What apt would install for each package whose name matches `pattern` (an extended
    regex): {name: {"version": candidate, "depends": [package names]}}. Read from the host's
    package lists; a host with none yet (a fresh cloud image ships without) gets them first,
    since what the archive offers decides what is installed."""

    def command(self, pattern: str) -> str:
        return ("if ! ls /var/lib/apt/lists 2>/dev/null | grep -q '_Packages'; then apt-get update -qq >/dev/null 2>&1;"
                f" fi; names=$(apt-cache pkgnames | grep -E {shlex.quote(pattern)} | sort);"
                " if [ -n \"$names\" ]; then apt-cache show --no-all-versions $names 2>/dev/null"
                " | grep -E '^(Package|Version|Depends):'; fi; true")

    def process(self, output):
        found, name = {}, None
        for line in output:
            field, _, value = line.partition(":")
            value = value.strip()
            if field == "Package":
                name = value
                found[name] = {"version": "", "depends": []}
            elif field == "Version" and name:
                found[name]["version"] = value
            elif field == "Depends" and name:
                found[name]["depends"] = [re.split(r"[\s(:]", alternative.strip(), maxsplit=1)[0]
                                          for part in value.split(",") for alternative in part.split("|")]
        return found


# --- NVIDIA (query by hand: pyinfra inventory.py fact jhgpu.facts.NvidiaGpus) ------------------


class NvidiaGpus(FactBase):
    """The GPUs the driver sees: [{"index", "name", "uuid", "memory_mib", "driver_version",
    "mig_enabled", "mig": [{"profile", "device", "uuid"}]}], or None when nvidia-smi is missing or
    fails (no driver, or a driver/library version mismatch). MIG instances come from
    `nvidia-smi -L`, the one listing that names them with their UUIDs."""

    def command(self) -> str:
        return ("if command -v nvidia-smi >/dev/null; then { nvidia-smi --query-gpu=index,name,uuid,memory.total,"
                "driver_version,mig.mode.current --format=csv,noheader,nounits && nvidia-smi -L; } 2>/dev/null"
                " || echo FAILED; fi")

    def process(self, output):
        from jhgpu.nvidia import gpus_from_nvidia_smi

        lines = [line for line in output if line.strip()]
        if not lines or lines[-1].strip() == "FAILED":
            return None
        return gpus_from_nvidia_smi(lines)


class NvidiaKernelModule(FactBase):
    """The version of the loaded nvidia kernel module ("570.133.20"), or None when none is loaded."""

    def command(self) -> str:
        return "cat /sys/module/nvidia/version 2>/dev/null || true"

    def process(self, output):
        return "".join(output).strip() or None


class NvidiaDriverPackage(FactBase):
    """The installed userspace driver ({"package": "libnvidia-compute-570-server", "version":
    "570.133.20"}), or None. Its version is what the loaded module must match."""

    def command(self) -> str:
        return ("dpkg-query -W -f='${Status}\\t${Package}\\t${Version}\\n' 'libnvidia-compute-*' libcuda1"
                " 2>/dev/null | grep '^install ok installed' || true")

    def process(self, output):
        from jhgpu.cuda import version_key

        found = []
        for line in output:
            _, package, version = line.strip().split("\t")
            upstream = version.split(":", 1)[-1].split("-", 1)[0]
            found.append({"package": package, "version": upstream})
        return max(found, key=lambda p: version_key(p["version"]), default=None)


class GpuContainerView(FactBase):
    """What a throwaway container of `image` sees with all GPUs requested:
    {"gpus": [names], "tensorflow": GPUs TensorFlow finds (None: no TensorFlow), "error": text}."""

    requires_command = "docker"

    # A GPU line only when nvidia-smi succeeds: it prints "No devices were found" and fails when
    # it sees none.
    PROBE = ("if out=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>&1); then printf '%s\\n' \"$out\""
             " | sed 's/^/gpu: /'; else printf '%s\\n' \"$out\"; fi;"
             " python -c 'import tensorflow as tf; print(\"tensorflow:\", len(tf.config.list_physical_devices(\"GPU\")))'"
             " 2>/dev/null || true")

    def command(self, image: str) -> str:
        # --pull never: the image is built here; a registry's namesake must never run instead.
        return (f"docker run --rm --pull never --gpus all {shlex.quote(image)} sh -c {shlex.quote(self.PROBE)}"
                " 2>&1 || true")

    def process(self, output):
        gpus, tensorflow, other = [], None, []
        for line in (line.strip() for line in output):
            if line.startswith("gpu: "):
                gpus.append(line.removeprefix("gpu: "))
            elif line.startswith("tensorflow: "):
                tensorflow = int(line.removeprefix("tensorflow: "))
            elif line:
                other.append(line.removeprefix("gpu: "))
        return {"gpus": gpus, "tensorflow": tensorflow, "error": " ".join(other)[-500:] or None}
