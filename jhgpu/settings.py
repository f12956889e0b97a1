"""Checks every host's settings before anything is planned. The one place validation lives.

The defaults and their documentation are in `group_data/all.py`; this module says what a valid
value of each is. A host with bad settings stops the whole deploy with one message listing
every problem, each naming the host and the setting.
"""

from __future__ import annotations

import difflib
import subprocess
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any, Callable

from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.connectors import get_all_connectors
from pyinfra.api.exceptions import PyinfraError

from jhgpu.checks import (ACCOUNT_NAME, groups_of, profiles_of, IMAGE_NAME, IMAGE_REF, Invalid, absolute_path, commit_sha, driver_branch,
                          domain_name, domain_or_address, git_repo, image_archive, local_file, ip_address, ipv4_network, is_type, list_of,
                          local_folder, matches, memory_size, notebook_images, number_in, one_of, optional,
                          passwords, path_under, pem_certificates, url)
from jhgpu.auth import AUTH_MODES, LDAP, LDAP_TLS, OIDC
from jhgpu.cuda import chain_cuda, judge_driver
from jhgpu.group_profiles import unknown_images
from jhgpu.images import is_local_repo
from jhgpu.nvidia import FLAVOURS
from jhgpu.nvidia_branches import AUTO
from jhgpu.nvidia_modules import MODULE_SETTINGS
from jhgpu.tls import TLS_MODES, tls_problems


class SettingsError(PyinfraError):
    """Raised for invalid settings; pyinfra prints it and exits non-zero."""


# --- the settings -------------------------------------------------------------------------------

GROUP_NAME = matches(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "a group name (letters, digits, '.', '_', '-')")
LDAP_DN = matches(r"[^\n=]+=[^\n]+", "an LDAP DN like 'ou=people,dc=lab,dc=example'")
UNIX_NAME = matches(r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name (lowercase, up to 32 characters)")

SETTINGS: dict[str, Callable[[Any], None]] = {
    "jupyterhub_user": UNIX_NAME,
    "jupyterhub_root": absolute_path,
    "users_home_root": absolute_path,
    "shared_data_dir": path_under("/mnt"),
    "team_folders": list_of(GROUP_NAME),
    "team_folders_root": absolute_path,
    "docker_source": one_of("distro", "docker-ce"),
    "docker_ce_repo_url": url,
    "compose_project_name": matches(
        r"[a-z0-9][a-z0-9_-]*", "lowercase letters, digits, '-' and '_', starting with a letter or digit"
    ),
    "preload_images": list_of(image_archive),
    "gpu_enabled": is_type(bool),
    "build_ca_certificates": pem_certificates,
    "docker_stacks_repo": git_repo,
    "docker_stacks_ref": commit_sha,
    "docker_stacks_patches_dir": local_folder,
    "notebook_root_image": IMAGE_REF,
    "image_owner": IMAGE_NAME,
    "build_progress_seconds": number_in(1),
    "notebook_images": notebook_images,
    "base_packages": list_of(matches(r"[a-z0-9][a-z0-9+.:=~-]*", "a Debian package name")),
    "hub_base_image": IMAGE_REF,
    "jupyterhub_version": matches(r"[0-9]+\.[0-9]+\.[0-9]+", "a JupyterHub release like '5.4.2'"),
    "hub_port": number_in(1, 65535),
    "hub_bind_address": ip_address,
    "hub_tls": one_of(*TLS_MODES),
    "hub_domain": optional(domain_name),
    "acme_email": optional(matches(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address")),
    "acme_ca_url": url,
    "acme_ca_root": optional(pem_certificates),
    "tls_certificate_file": optional(pem_certificates),
    "tls_key_file": optional(local_file),
    "https_port": number_in(1, 65535),
    "http_port": number_in(1, 65535),
    "proxy_image": IMAGE_REF,
    "hub_admin_users": list_of(ACCOUNT_NAME),
    "hub_users": list_of(ACCOUNT_NAME),
    "hub_passwords": passwords,
    "hub_passwords_file": absolute_path,
    "hub_login_attempts": optional(number_in(1, None, int)),
    "hub_login_lockout_seconds": number_in(1, None, int),
    "hub_groups": groups_of(GROUP_NAME, ACCOUNT_NAME),
    "hub_auth": one_of(*AUTH_MODES),
    "ldap_server": optional(domain_or_address),
    "ldap_tls": one_of(*LDAP_TLS),
    "ldap_port": optional(number_in(1, 65535)),
    "ldap_ca_certificate": optional(pem_certificates),
    "ldap_bind_dn_template": optional(matches(r"[^\n]*\{username\}[^\n]*", "a DN with {username} in it")),
    "ldap_user_search_base": optional(LDAP_DN),
    "ldap_user_attribute": matches(r"[A-Za-z][A-Za-z0-9-]*", "an LDAP attribute name"),
    "ldap_search_user_dn": optional(LDAP_DN),
    "ldap_search_password_file": optional(local_file),
    "ldap_group_search_base": optional(LDAP_DN),
    "ldap_allowed_groups": list_of(GROUP_NAME),
    "ldap_admin_groups": list_of(GROUP_NAME),
    "oidc_issuer": optional(url),
    "oidc_client_id": optional(matches(r"[^\s]+", "a client id without spaces")),
    "oidc_client_secret_file": optional(local_file),
    "oidc_ca_certificate": optional(pem_certificates),
    "oidc_scopes": list_of(matches(r"[!#-\[\]-~]+", "an OAuth scope (no spaces or quotes)")),
    "oidc_username_claim": matches(r"[A-Za-z0-9_.:-]+", "a claim name"),
    "oidc_groups_claim": matches(r"[A-Za-z0-9_.:/-]+", "a claim name"),
    "oidc_allowed_groups": list_of(GROUP_NAME),
    "oidc_admin_groups": list_of(GROUP_NAME),
    "gpu_allocation": one_of("exclusive", "shared"),
    "max_gpus_per_user": number_in(1),
    "group_profiles": profiles_of(GROUP_NAME, {"max_gpus": number_in(0, None, int),
                                               "images": list_of(is_type(str)),
                                               "mem_limit": optional(memory_size),
                                               "cpu_limit": optional(number_in(0.1, None, int, float)),
                                               "max_hours": optional(number_in(0.01, None, int, float))}),
    "user_gpus": number_in(0),
    "user_mem_limit": optional(memory_size),
    "user_shm_size": memory_size,
    "user_cpu_limit": optional(number_in(0.1, None, int, float)),
    "user_pids_limit": optional(number_in(64, None, int)),
    "idle_cull_timeout": optional(number_in(60)),
    "gpu_idle_timeout": optional(number_in(60)),
    "gpu_idle_grace": number_in(0),
    "gpu_idle_exempt_groups": list_of(GROUP_NAME),
    "gpu_idle_exempt_admins": is_type(bool),
    "prometheus_token_file": optional(local_file),
    "user_blocked_addresses": list_of(ipv4_network),
    "nvidia_driver_branch": optional(driver_branch),
    "nvidia_driver_flavour": one_of(*FLAVOURS),
    "nvidia_kernel_modules": one_of(*MODULE_SETTINGS),
    "nvidia_allow_reboot": is_type(bool),
    "nvidia_container_toolkit_repo_url": url,
    "nvidia_container_toolkit_key_url": url,
    "nvidia_container_toolkit_version": matches(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.~+]+)?",
                                                "a toolkit package version like '1.20.0-1'"),
    "debian_mirror_url": url,
    "debian_security_mirror_url": url,
    "gpu_check_image": optional(IMAGE_NAME),
    "swarm_advertise_address": optional(ip_address),
    "swarm_encrypted_network": is_type(bool),
    "shared_storage": one_of("nfs", "external-nfs", "mounted"),
    "nfs_server": optional(domain_or_address),
    "nfs_homes_export": optional(absolute_path),
    "nfs_shared_export": optional(absolute_path),
    "nfs_teams_export": optional(absolute_path),
    "registry_image": IMAGE_REF,
    "registry_port": number_in(1, 65535),
}

# Folders the deploy owns with different owners and modes: none may hold another.
SEPARATE_FOLDERS = ("jupyterhub_root", "users_home_root", "shared_data_dir", "team_folders_root")


def pyinfra_data_names() -> set[str]:
    """Host data that belongs to pyinfra itself (connector settings, global arguments)."""
    names = {name for name, _ in all_global_arguments() if name.startswith("_")}
    for connector in get_all_connectors().values():
        names.update(getattr(connector, "data_meta", {}))
    return names


def _folder_overlaps(values: dict[str, Any]) -> list[str]:
    problems = []
    for index, first in enumerate(SEPARATE_FOLDERS):
        for second in SEPARATE_FOLDERS[index + 1:]:
            a, b = PurePosixPath(values[first]), PurePosixPath(values[second])
            if a == b or a in b.parents or b in a.parents:
                problems.append(f"{first} ({a}) and {second} ({b}) must be separate folders")
    return problems


def _missing_local_ref(data: dict[str, Any]) -> list[str]:
    repo, ref = data["docker_stacks_repo"], data["docker_stacks_ref"]
    if not is_local_repo(repo):
        return []  # checked by the host's fetch
    found = subprocess.run(["git", "-C", repo, "cat-file", "-e", f"{ref}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        return [f"setting 'docker_stacks_ref' {ref} is not a commit of docker_stacks_repo {repo!r}"]
    return []


def _account_problems(data: dict[str, Any]) -> list[str]:
    admins, users = data["hub_admin_users"], data["hub_users"]
    problems = [f"setting 'hub_users' lists {name!r}, already in hub_admin_users or listed twice"
                for index, name in enumerate(users) if name in admins or name in users[:index]]
    problems += [f"setting 'hub_admin_users' lists {name!r} twice"
                 for index, name in enumerate(admins) if name in admins[:index]]
    problems += [f"setting 'hub_passwords' has a password for {name!r}, which is not in hub_admin_users "
                 "or hub_users" for name in data["hub_passwords"] if name not in [*admins, *users]]
    return problems


def _offers_an_image(data: dict[str, Any]) -> list[str]:
    if any(image.get("display_name") for image in data["notebook_images"]):
        return []
    return ["setting 'notebook_images' offers users no image: give at least one a 'display_name'"]


def _gpu_problems(data: dict[str, Any]) -> list[str]:
    if data["user_gpus"] > data["max_gpus_per_user"]:  # checked on CPU-only hosts too: one day they get GPUs
        return [f"setting 'user_gpus' {data['user_gpus']} is more than max_gpus_per_user "
                f"({data['max_gpus_per_user']}): users could not start with the GPUs preselected"]
    if not data["gpu_enabled"]:
        return []
    problems = []
    check = data["gpu_check_image"]
    if check is not None and check not in [image["name"] for image in data["notebook_images"]]:
        problems.append(f"setting 'gpu_check_image' {check!r} is not one of notebook_images")
    branch = data["nvidia_driver_branch"]
    if branch not in (None, AUTO):  # the host's own driver, or "auto", is judged in the preflight
        images = chain_cuda(SimpleNamespace(**data))
        problems += [f"settings refuse an impossible pairing: {refusal}"
                     for refusal in judge_driver(images, branch, "nvidia_driver_branch").refusals]
    return problems


def _storage_problems(data: dict[str, Any]) -> list[str]:
    if data["shared_storage"] != "external-nfs":
        return []
    needed = ("nfs_server", "nfs_homes_export", "nfs_shared_export", *(("nfs_teams_export",) if data["team_folders"] else ()))
    return [f"setting '{name}' is needed with shared_storage = 'external-nfs'" + (" and team_folders" if name == "nfs_teams_export" else "")
            for name in needed if not data[name]]


def _group_problems(data: dict[str, Any]) -> list[str]:
    problems = [f"setting 'team_folders' lists {name!r} twice" for index, name in enumerate(data["team_folders"])
                if name in data["team_folders"][:index]]
    offered = [image["display_name"] for image in data["notebook_images"] if image.get("display_name")]
    problems += [f"setting 'group_profiles' {problem}, which is not the display_name of any of notebook_images "
                 f"({', '.join(offered)})" for problem in unknown_images(data["group_profiles"], offered)]
    if data["hub_groups"] and data["hub_auth"] != "native":
        problems.append(f"setting 'hub_groups' applies to hub_auth = 'native' only: with {data['hub_auth']!r}, "
                        "groups come from the directory")
    return problems


def _ldap_problems(data: dict[str, Any]) -> list[str]:
    """Settings that only make sense together, for hub_auth "ldap" (and leftovers otherwise)."""
    if data["hub_auth"] != LDAP:
        return []
    problems = []
    if not data["ldap_server"]:
        problems.append("setting 'ldap_server' is needed with hub_auth = 'ldap'")
    template, search_base = data["ldap_bind_dn_template"], data["ldap_user_search_base"]
    if bool(template) == bool(search_base):
        problems.append("settings 'ldap_bind_dn_template' and 'ldap_user_search_base': set exactly one (how a login "
                        "name becomes the person's entry) with hub_auth = 'ldap'")
    if bool(data["ldap_search_user_dn"]) != bool(data["ldap_search_password_file"]):
        problems.append("settings 'ldap_search_user_dn' and 'ldap_search_password_file' go together (the service "
                        "account and its password)")
    if (data["ldap_allowed_groups"] or data["ldap_admin_groups"]) and not data["ldap_group_search_base"]:
        problems.append("setting 'ldap_group_search_base' is needed for ldap_allowed_groups and ldap_admin_groups")
    return problems


def _oidc_problems(data: dict[str, Any]) -> list[str]:
    """Settings that only make sense together, for hub_auth "oidc"."""
    if data["hub_auth"] != OIDC:
        return []
    problems = [f"setting '{name}' is needed with hub_auth = 'oidc'"
                for name in ("oidc_issuer", "oidc_client_id", "oidc_client_secret_file") if not data[name]]
    if data["oidc_issuer"] and not data["oidc_issuer"].startswith("https://"):
        problems.append(f"setting 'oidc_issuer' must be an https URL, got {data['oidc_issuer']!r}")
    if not data["hub_domain"] or data["hub_tls"] == "off":
        problems.append("hub_auth = 'oidc' needs hub_domain and HTTPS (hub_tls not 'off'): the provider sends "
                        "people back to https://<hub_domain>/hub/oauth_callback")
    if "openid" not in data["oidc_scopes"]:
        problems.append("setting 'oidc_scopes' must include 'openid'")
    return problems


def problems_in(data: dict[str, Any]) -> list[str]:
    """Every problem in one host's data, as 'setting: problem' lines."""
    problems = []
    known = set(SETTINGS) | pyinfra_data_names()
    for name in sorted(set(data) - known):
        close = difflib.get_close_matches(name, SETTINGS, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"unknown setting '{name}'{hint}")
    for name, check in SETTINGS.items():
        if name not in data:
            problems.append(f"setting '{name}' is missing (is group_data/all.py in place?)")
            continue
        try:
            check(data[name])
        except Invalid as error:
            problems.append(f"setting '{name}' {error}")
    if not problems:
        problems.extend(f"settings {problem}" for problem in _folder_overlaps(data))
        problems.extend(_missing_local_ref(data))
        problems.extend(_account_problems(data))
        problems.extend(_offers_an_image(data))
        problems.extend(_gpu_problems(data))
        problems.extend(tls_problems(data))
        problems.extend(_storage_problems(data))
        problems.extend(_ldap_problems(data))
        problems.extend(_oidc_problems(data))
        problems.extend(_group_problems(data))
    return problems


def validate(host_name: str, data: dict[str, Any]) -> None:
    """Raise SettingsError naming the host and each bad setting; return quietly if all is well."""
    problems = problems_in(data)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise SettingsError(f"invalid settings for host '{host_name}':\n{lines}")
