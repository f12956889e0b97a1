"""Facts about the Hub on a host: its containers, health and accounts.
"""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase


HUB_HEALTH = "http://127.0.0.1:8000/hub/health"  # inside the Hub's container, whatever is published


def hub_health_command(container: str) -> str:
    """Succeeds when the Hub in `container` answers its health check (asked from inside, so it
    works whether the Hub's port is published or only the proxy's)."""
    probe = f"import urllib.request; urllib.request.urlopen({HUB_HEALTH!r}, timeout=5)"
    return f"docker exec {shlex.quote(container)} python3 -c {shlex.quote(probe)} >/dev/null 2>&1"


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


class HubAnswers(FactBase):
    """Whether the Hub in `container` answers its health check, within a few seconds."""

    requires_command = "docker"

    def command(self, container: str) -> str:
        return f"for _ in 1 2 3; do {hub_health_command(container)} && echo yes && exit 0; sleep 1; done; echo no"

    def process(self, output):
        return "".join(output).strip().endswith("yes")


class HubAccounts(FactBase):
    """The Hub's accounts (NativeAuthenticator's) as {name: {"authorized": bool, "created": whether
    the deploy made it (None before it kept a record)}}, or None when the Hub container is not
    running. Waits for a Hub that is still starting. The account tool speaks
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
        return {account["name"]: {"authorized": account["authorized"], "created": account.get("created")}
                for account in json.loads(lines[-1])}
