"""The Hub's operations: its Compose project up and current, its database kept before an
upgrade, its declared accounts. Decisions about the Hub's files are in jhgpu/hub.py."""

from __future__ import annotations

import io
import json
import shlex
from typing import Callable

from pyinfra import host, logger
from pyinfra.api import OperationError, operation

from jhgpu.facts.docker import NetworkDriver
from jhgpu.facts.hub import HubAccounts, HubAnswers, HubContainers, hub_health_command
from jhgpu.hub import ACCOUNTS_REQUEST, CONFIG_DIGEST_LABEL, GENERATED_PASSWORDS
from jhgpu.operations.docker import local_image
from jhgpu.tls import PROXY_DIGEST_LABEL
from jhgpu.uploads import upload

q = shlex.quote


@operation()
def bridge_network(network: str, bridge: str):
    """A single server's Hub network, made here and taken by Compose as external: its Linux bridge
    has a name of its own, which the firewall's rules (jhgpu/egress.py) name, so they hold when
    the network is made anew, and `docker compose down` leaves it and users' servers alone. A
    network Compose made before keeps its bridge (br-<id>, which the rules read) until made anew."""
    driver = host.get_fact(NetworkDriver, network=network)
    if driver == "bridge":
        host.noop(f"network {network} exists")
        return
    if driver:
        raise OperationError(f"network {network} on {host.name} is a {driver} network (a Swarm's, while this host is now "
                             "a single server): stop the Hub (docker compose down in jupyterhub_root) and users' "
                             f"servers, remove it (docker network rm {network}) and rerun")
    yield f"docker network create --driver bridge --opt com.docker.network.bridge.name={q(bridge)} {q(network)} >/dev/null"


@operation()
def hub_running(compose_command: str, project_dir: str, container: str, image: str, config_digest: str,
                proxy: dict | None, files_changed: Callable[[], bool], database: dict, wait_seconds: int = 180):
    """The Hub (and its HTTPS proxy) up under Compose, made from the current files and images.

    `compose up` would report a change on every run, so the running containers are compared
    first: their digest labels (written into docker-compose.yml), image ids and states, and
    whether the Hub answers. A match leaves them alone; anything else (new settings, a rebuilt
    image, a stopped or crash-looping Hub) recreates what differs, and so does a rendered file the
    deploy just rewrote (one edited by hand and restored: the running Hub read the edited one).
    `proxy`: {"container", "digest", "image"} of the proxy that should run; None: no proxy.
    `database`: the Hub's database, {"host": path on the host, "hub": path in the container};
    before the Hub moves to another image (an upgrade), a copy is kept beside it, in backups/.
    """
    hub = _container(container, CONFIG_DIGEST_LABEL)
    stale = []
    if not (_runs(hub, CONFIG_DIGEST_LABEL, config_digest, image) and not files_changed()
            and host.get_fact(HubAnswers, container=container)):
        stale.append("hub")
    proxies = host.get_fact(HubContainers, label=PROXY_DIGEST_LABEL) or []
    if proxy and not _runs(_container(proxy["container"], PROXY_DIGEST_LABEL), PROXY_DIGEST_LABEL,
                           proxy["digest"], proxy["image"]):
        stale.append("proxy")
    leftover = [c["name"] for c in proxies if not proxy or c["name"] != proxy["container"]]
    if not stale and not leftover:
        host.noop(f"the Hub ({container}) is running with the current settings")
        return
    wanted_image = local_image(image)
    if hub and wanted_image and hub["image"] != wanted_image["id"]:
        yield from _database_backup(container, database)
    # Only what differs is recreated; --remove-orphans takes away a proxy no longer wanted.
    recreate = f" --force-recreate {' '.join(stale)}" if stale else ""
    yield f"cd {q(project_dir)} && {compose_command} up -d --remove-orphans{recreate}"
    # Done only once the Hub answers, so a Hub that cannot start fails the deploy with its log.
    yield (f"for _ in $(seq {wait_seconds}); do {hub_health_command(container)} && exit 0; sleep 1; done;"
           f" docker logs --tail 40 {q(container)} >&2;"
           f" echo 'the Hub did not answer within {wait_seconds} s; its log is above' >&2; exit 1")


def _database_backup(container: str, database: dict):
    """A consistent copy of the Hub's database (SQLite's online backup, made by the running Hub's
    Python; a plain copy when the Hub is down), named by the UTC time, kept on the host."""
    folder, name = database["host"].rsplit("/", 1)
    inside = database["hub"].rsplit("/", 1)[0]
    stem = name.rsplit(".", 1)[0]
    if host.state.is_executing:
        host.log(f"The Hub's image changes: backing up its database to {folder}/backups/{stem}-<UTC time>.sqlite. "
                 f"To restore one: `docker stop {container}`, copy it over {database['host']}, rerun the deploy",
                 logger.warning)
    backup = ("import sqlite3, sys; source = sqlite3.connect(sys.argv[1]); copy = sqlite3.connect(sys.argv[2]);"
              " source.backup(copy); copy.close()")
    yield (f"if [ -f {q(database['host'])} ]; then stamp=$(date -u +%Y%m%dT%H%M%SZ)"
           f" && install -d -m 700 {q(folder + '/backups')}"
           f" && {{ docker exec {q(container)} python3 -c {q(backup)} {q(database['hub'])}"
           f" {q(inside + '/backups/')}{q(stem)}-$stamp.sqlite"
           f" || cp -p {q(database['host'])} {q(folder + '/backups/')}{q(stem)}-$stamp.sqlite; }}; fi")


def _container(name: str, label: str) -> dict | None:
    return next((c for c in host.get_fact(HubContainers, label=label) or [] if c["name"] == name), None)


def _runs(current: dict | None, label: str, digest: str, image: str) -> bool:
    """Whether `current` runs steadily, from these files (its digest label) and this image."""
    wanted_image = local_image(image)
    return bool(current and current["status"] == "running" and not current["restarting"]
                and current["labels"].get(label) == digest and wanted_image and current["image"] == wanted_image["id"])


@operation()
def hub_accounts(container: str, db_url: str, accounts: list[str], passwords: dict[str, str], passwords_file: str,
                 data_dir: str, hub_data_dir: str):
    """Make each declared account exist and be authorized; authorized accounts the deploy made are
    never touched, any other row under a declared name is replaced (files/hub-accounts.py).

    Nothing secret is in a command: passwords from `passwords` travel as bcrypt hashes (made
    here) in a file uploaded into the Hub's root-only data folder (`data_dir` on the host,
    `hub_data_dir` in the container); other accounts get a password generated in the container,
    which reaches `passwords_file` (root's, mode 0600) by a file move, only once its account exists.
    """
    import bcrypt

    existing = host.get_fact(HubAccounts, container=container, db_url=db_url) or {}
    # A row the deploy did not make (a sign-up, even one an admin approved) loses a declared name.
    wanted = [name for name in accounts if not (existing.get(name, {}).get("authorized")
                                                and existing[name].get("created") is not False)]
    unrecorded = any(row.get("created") is None for row in existing.values())  # the record starts now
    if not wanted and not unrecorded:
        host.noop(f"the Hub has all {len(accounts)} declared account(s)")
        return
    replaced = [name for name in wanted if name in existing]
    if replaced and host.state.is_executing:
        host.log(f"Replacing sign-up(s) the deploy did not make under declared account name(s) {', '.join(replaced)}: "
                 "the declared account takes the name", logger.warning)
    request = {"accounts": wanted, "declared": list(accounts), "password_hashes": {
        name: bcrypt.hashpw(passwords[name].encode(), bcrypt.gensalt()).decode() for name in wanted if name in passwords}}
    generated = f"{data_dir}/{GENERATED_PASSWORDS}"
    # Generated passwords left by an interrupted run are recorded first.
    record = (f"umask 077 && if [ -s {q(generated)} ]; then cat {q(generated)} >> {q(passwords_file)}"
              f" && chmod 600 {q(passwords_file)}; fi && rm -f {q(generated)}")
    yield record
    yield upload(io.StringIO(json.dumps(request)), f"{data_dir}/{ACCOUNTS_REQUEST}")
    yield (f"docker exec {q(container)} jupytergpu-hub-accounts {q(db_url)} ensure"
           f" {q(f'{hub_data_dir}/{ACCOUNTS_REQUEST}')} {q(f'{hub_data_dir}/{GENERATED_PASSWORDS}')}")
    yield record
