"""The Hub's files, rendered from templates/ with every decision made here. No I/O on hosts.

`hub_files(data)` turns one host's settings into the exact text of the Hub's Dockerfile,
jupyterhub_config.py, docker-compose.yml and .env. The Compose file carries a digest of all of
them as a label on the Hub container, so the deploy can tell from the running container alone
whether it is up to date (see `jhgpu.operations.hub_running`).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2

from jhgpu.auth import LDAP_AUTHENTICATOR_VERSION, OAUTHENTICATOR_VERSION, auth_context
from jhgpu.backup_status import STATUS_FILE_NAME
from jhgpu.gpu_allocation import allocatable_gpus
from jhgpu.hub_services import gpu_page, gpu_usage_dir, idle_culler, prometheus_access, watches_gpus
from jhgpu.images import ImageBuild, image_ref, offered_images
from jhgpu.swarm import swarm_hub_context
from jhgpu.tls import PROXY_DIGEST_LABEL, PROXY_DIR, host_port, proxy_plan

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ACCOUNTS_SCRIPT = Path(__file__).resolve().parent.parent / "files" / "hub-accounts.py"
# The Hub's spawner and its policies, the decisions they import (this package's, copied as they
# are), the directory logins and the admins' GPU page.
_FILES, _PACKAGE = Path(__file__).resolve().parent.parent / "files", Path(__file__).resolve().parent
HUB_MODULES = (_FILES / "gpu_spawner.py", _FILES / "spawner_policies.py", _PACKAGE / "gpu_allocation.py",
               _PACKAGE / "group_profiles.py", _PACKAGE / "gpu_usage.py", _FILES / "directory_auth.py",
               _FILES / "gpu_usage_service.py", _PACKAGE / "backup_status.py")

CONFIG_DIGEST_LABEL = "org.jupytergpu.hub-config-digest"
ROOT_LABEL = "org.jupytergpu.jupyterhub-root"
HOMES_LABEL = "org.jupytergpu.users-home-root"
HUB_IMAGE_NAME = "hub"  # the Hub's image is <image_owner>/hub:latest, beside the notebook images
HUB_IMAGE_DIR = "hub-image"  # the Hub image's build context, under jupyterhub_root
HUB_DATA_DIR = "data"  # the Hub's database and cookie secret, under jupyterhub_root
# Where the Hub container sees its files (the official image's working directory).
HUB_HOME = "/srv/jupyterhub"
HUB_DB_FILE = "jupyterhub.sqlite"
HUB_DB_URL = f"sqlite:///{HUB_HOME}/{HUB_DATA_DIR}/{HUB_DB_FILE}"
# docker-stacks' notebook user (NB_UID, NB_GID): ~/work must belong to it.
NOTEBOOK_UID, NOTEBOOK_GID = 1000, 100
NOTEBOOK_HOME = "/home/jovyan"
MIN_PASSWORD_LENGTH = 8
# Account names the Hub accepts, at sign-up and login (Authenticator.username_pattern; \Z, not $,
# which would let a trailing newline through). The deploy's own account settings use the same.
USERNAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
# Files the account step passes through the Hub's data folder (never secrets in commands).
ACCOUNTS_REQUEST = "accounts-request.json"
GENERATED_PASSWORDS = "generated-passwords.tsv"
DECLARED_RECORD = "declared-accounts.json"  # every account name the deploy declared on the host
# The Hub's own packages beside JupyterHub (jupyterhub_version), moved together with it; each is
# its newest release on PyPI. Their wheels' metadata: DockerSpawner 14.0.0 needs jupyterhub >= 4,
# NativeAuthenticator 1.3.0 jupyterhub >= 4.1.6, the idle culler 2.0.0 only the Hub's REST API;
# all three run with 5.5.4 in this project's browser test. JupyterHub 6 is left for a deliberate
# upgrade: it migrates the database and changes spawn options (its changelog, "API and Breaking
# Changes"), which NativeAuthenticator 1.3.0 predates.
DOCKERSPAWNER_VERSION = "14.0.0"
NATIVEAUTHENTICATOR_VERSION = "1.3.0"
IDLE_CULLER_VERSION = "2.0.0"


@dataclass(frozen=True)
class HubNames:
    image: str  # the Hub image the deploy builds
    container: str
    network: str  # the network user containers join to reach the Hub
    bridge: str  # a single server's network's Linux bridge (at most 15 characters, as Linux allows)

    @classmethod
    def of(cls, data) -> "HubNames":
        project = data.compose_project_name
        return cls(image=image_ref(data.image_owner, HUB_IMAGE_NAME), container=f"{project}-hub",
                   network=f"{project}-network", bridge=f"{project[:12]}-br")


def published_port(data) -> str | None:
    """Compose's ports entry for the Hub: its port on hub_bind_address, with hub_tls "off"
    only (otherwise the proxy's ports are the only published ones)."""
    if data.hub_tls != "off":
        return None
    return f"{host_port(data.hub_bind_address, data.hub_port)}:8000"


def hub_image_build(data) -> ImageBuild:
    return ImageBuild(name=HUB_IMAGE_NAME, ref=HubNames.of(data).image,
                      context=f"{data.jupyterhub_root}/{HUB_IMAGE_DIR}", parent_ref=data.hub_base_image)


def home_volume_prefix(data) -> str:
    """The name of every user's home volume up to their (escaped) name."""
    return f"{data.compose_project_name}-home-"


def home_volume(data) -> str:
    """The Docker volume holding each user's home, less ~/work ({username} is DockerSpawner's)."""
    return f"{home_volume_prefix(data)}{{username}}"


def user_volumes(data) -> dict:
    return {
        home_volume(data): NOTEBOOK_HOME,
        f"{data.users_home_root}/{{username}}": f"{NOTEBOOK_HOME}/work",
        data.shared_data_dir: {"bind": f"{NOTEBOOK_HOME}/SHARED", "mode": "ro"},
    }


def user_host_config(data) -> dict:
    """Docker's host config for each user's container (the spawner adds its GPUs): /dev/shm, as
    Docker's 64 MB is too small for PyTorch's DataLoader workers; no Linux capabilities (the
    notebook runs as jovyan and needs none: sudo inside is not offered), no privileges gained
    through setuid programs, and a cap on processes, so one user's fork bomb cannot take the
    host down for everyone."""
    config = {"shm_size": data.user_shm_size, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}
    if data.user_pids_limit:
        config["pids_limit"] = data.user_pids_limit
    return config


def gpu_settings(data, gpus: list[dict] | None) -> dict:
    """What the Hub's spawner allocates from: the host's GPUs (the NvidiaGpus fact; none on a
    CPU-only Hub or before the driver runs) and the allocation settings. A server started
    without choosing gets user_gpus, or none when the Hub knows of no GPU."""
    units = allocatable_gpus(gpus) if data.gpu_enabled else []
    return {"gpus": units, "gpu_allocation": data.gpu_allocation, "max_gpus_per_user": data.max_gpus_per_user,
            "default_gpus": min(data.user_gpus, data.max_gpus_per_user) if units else 0}


def declared_accounts(data) -> list[str]:
    return sorted({*data.hub_admin_users, *data.hub_users})


def blocked_accounts(data, ever_declared) -> list[str]:
    """Accounts the deploy once declared and no longer does: their logins are blocked (their
    files stay). A name declared again is unblocked."""
    return sorted(set(ever_declared) - set(declared_accounts(data)))


def hub_context(data, ever_declared=(), gpus=None, hostname=None, swarm=None, oidc_discovery=None) -> dict:
    names = HubNames.of(data)
    proxy = proxy_plan(data, hostname)
    images = offered_images(data)
    services, roles = idle_culler(data)
    services = [*services, *gpu_page(data, swarm)]
    # The admin role's members, listed exactly: JupyterHub then revokes admin rights from anyone
    # else at start, so a name removed from hub_admin_users is no admin any more.
    roles = [{"name": "admin", "users": sorted(data.hub_admin_users)}, *roles]
    return {
        "config_digest_label": CONFIG_DIGEST_LABEL,
        "root_label": ROOT_LABEL,
        "homes_label": HOMES_LABEL,
        "jupyterhub_root": data.jupyterhub_root,
        "hub_base_image": data.hub_base_image,
        "jupyterhub_version": data.jupyterhub_version,
        "dockerspawner_version": DOCKERSPAWNER_VERSION,
        "nativeauthenticator_version": NATIVEAUTHENTICATOR_VERSION,
        "idle_culler_version": IDLE_CULLER_VERSION,
        "ldapauthenticator_version": LDAP_AUTHENTICATOR_VERSION,
        "oauthenticator_version": OAUTHENTICATOR_VERSION,
        "extra_ca_certificates": bool(data.build_ca_certificates),
        "hub_image": names.image,
        "hub_container": names.container,
        "network": names.network,
        "hub_published": published_port(data),
        "proxy": proxy,
        "proxy_image": data.proxy_image,
        "proxy_digest_label": PROXY_DIGEST_LABEL,
        "global_options": proxy.global_options if proxy else (),
        "names": proxy.names if proxy else (),
        "tls_line": proxy.tls_line if proxy else "",
        "headers": proxy.headers if proxy else (),
        "tornado_settings": {"cookie_options": {"secure": True}} if proxy else {},
        "compose_project_name": data.compose_project_name,
        "hub_home": HUB_HOME,
        "data_dir": f"{data.jupyterhub_root}/{HUB_DATA_DIR}",
        "config_file": f"{data.jupyterhub_root}/jupyterhub_config.py",
        "db_url": HUB_DB_URL,
        "blocked_users": blocked_accounts(data, ever_declared),
        "declared_accounts": declared_accounts(data),
        "username_pattern": f"^{USERNAME_PATTERN}\\Z",
        "min_password_length": MIN_PASSWORD_LENGTH,
        "login_attempts": data.hub_login_attempts or 0,  # NativeAuthenticator's 0: no lockout
        "login_lockout_seconds": data.hub_login_lockout_seconds,
        "admin_users": sorted(data.hub_admin_users),
        "load_groups": {name: {"users": sorted(members)} for name, members in sorted(data.hub_groups.items())},
        "team_folders": sorted(data.team_folders),
        "group_profiles": data.group_profiles,
        "team_folders_root": data.team_folders_root,
        **auth_context(data, f"{HUB_HOME}/{HUB_DATA_DIR}", oidc_discovery),
        "images": images,
        "default_image": next(iter(images.values()), None),
        "users_home_root": data.users_home_root,
        "shared_data_dir": data.shared_data_dir,
        "notebook_home": NOTEBOOK_HOME,
        "notebook_uid": NOTEBOOK_UID,
        "notebook_gid": NOTEBOOK_GID,
        "mem_limit": data.user_mem_limit,
        "cpu_limit": data.user_cpu_limit,
        "volumes": user_volumes(data),
        "host_config": user_host_config(data),
        "services": services,
        "roles": roles,
        "swarm": None,
        "spawner": "GpuDockerSpawner",
        "prometheus": prometheus_access(data, f"{HUB_HOME}/{HUB_DATA_DIR}", swarm),
        "gpu_usage": {"dir": gpu_usage_dir(data), "timeout": data.gpu_idle_timeout,
                      "grace": data.gpu_idle_grace, "exempt_groups": list(data.gpu_idle_exempt_groups),
                      "exempt_admins": data.gpu_idle_exempt_admins}
        if watches_gpus(data, swarm) else None,
        # Each backup's outcome, as the Hub sees it: admins are told of a failed one.
        "backup_status_file": f"{HUB_HOME}/{HUB_DATA_DIR}/{STATUS_FILE_NAME}" if data.backup_repository else None,
        "user_folder_roots": [data.users_home_root],
        **gpu_settings(data, gpus),
        **(swarm_hub_context(data, **swarm) if swarm else {}),
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["py"] = repr  # a Python literal, for jupyterhub_config.py
    env.filters["sh"] = shlex.quote  # a shell word, for scripts
    return env


def render(template: str, context: dict) -> str:
    """One file of templates/ with these values."""
    return _environment().get_template(template).render(context)


def hub_move_problems(data, containers: list[dict]) -> list[str]:
    """What a deploy with these settings would orphan or duplicate, given the Hub containers on
    the host (the HubContainers fact): another Hub (an earlier compose_project_name), or the
    Hub's database or the users' files left at the paths an earlier jupyterhub_root or
    users_home_root named."""
    ours = HubNames.of(data).container
    problems = []
    for container in containers:
        name, labels = container["name"], container["labels"]
        if name != ours:
            project = labels.get("com.docker.compose.project", "?")
            problems.append(f"another Hub, container {name} of Compose project {project!r}, is on this host "
                            f"(compose_project_name was {project!r}?): two Hubs would fight over one port or share "
                            f"one database. Remove it first (docker rm -f {name}), or set compose_project_name "
                            f"back to {project!r}")
        root, homes = labels.get(ROOT_LABEL), labels.get(HOMES_LABEL)
        if root and root != data.jupyterhub_root:
            problems.append(f"jupyterhub_root moved from {root} to {data.jupyterhub_root}, but the Hub's database "
                            f"(every account and password) is in {root}/{HUB_DATA_DIR}: stop the Hub "
                            f"(docker rm -f {name}), move the folder (mv {root} {data.jupyterhub_root}) and "
                            "rerun, or set jupyterhub_root back")
        if homes and homes != data.users_home_root:
            problems.append(f"users_home_root moved from {homes} to {data.users_home_root}, but the users' files "
                            f"are in {homes}: stop the Hub and every user's server, move the folder "
                            f"(mv {homes} {data.users_home_root}) and rerun, or set users_home_root back")
    return problems


@dataclass(frozen=True)
class HubFiles:
    files: dict[str, str]  # file name (relative to jupyterhub_root) -> content
    config_digest: str  # the label a Hub container made from exactly these files carries
    proxy_digest: str = ""  # ... and the proxy's, from its Caddyfile and certificate files


def _digest(*parts: str | bytes) -> str:
    return hashlib.sha256(b"\0".join(part.encode() if isinstance(part, str) else part for part in parts)).hexdigest()


def hub_files(data, ever_declared=(), gpus=None, hostname=None, swarm=None, oidc_discovery=None) -> HubFiles:
    """`ever_declared`: every account name the deploy has declared on this host (a record it
    keeps there), so that names since removed are blocked. `gpus`: the NvidiaGpus fact.
    `hostname`: the server's, a name of the proxy's "internal" certificate. `swarm`: for the
    Hub of several servers, jhgpu/swarm.py's swarm_hub_context arguments (registry, units).
    `oidc_discovery`: the provider's discovery document (hub_auth "oidc")."""
    env = _environment()
    context = hub_context(data, ever_declared, gpus, hostname, swarm, oidc_discovery)
    files = {
        f"{HUB_IMAGE_DIR}/Dockerfile": env.get_template("hub.Dockerfile.j2").render(context),
        "jupyterhub_config.py": env.get_template("jupyterhub_config.py.j2").render(context),
        ".env": env.get_template("env.j2").render(context),
    }
    proxy, proxy_files, proxy_digest = context["proxy"], {}, ""
    if proxy:
        caddyfile = env.get_template("Caddyfile.j2").render(context)
        proxy_files[f"{PROXY_DIR}/Caddyfile"] = caddyfile
        # The certificate files are the admin's (read here, uploaded by tasks/https.py).
        proxy_digest = _digest(caddyfile, data.proxy_image, *proxy.ports,
                               *(Path(local).read_bytes() for local in sorted(proxy.uploads)))
    compose = env.get_template("docker-compose.yml.j2")
    # The Hub's label is a digest of everything else it is made from, its part of the Compose
    # file included (rendered without labels or the proxy, whose own label covers it); the Hub
    # image is compared by id when it runs.
    unlabelled = compose.render({**context, "proxy": None}, config_digest="", proxy_digest="")
    digest = _digest(*files.values(), unlabelled)
    files["docker-compose.yml"] = compose.render(context, config_digest=digest, proxy_digest=proxy_digest)
    return HubFiles(files={**files, **proxy_files}, config_digest=digest, proxy_digest=proxy_digest)
