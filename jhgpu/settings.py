"""Checks every host's settings before anything is planned. The one place validation lives.

The defaults and their documentation are in `group_data/all.py`; this module says what a valid
value of each is, and jhgpu/setting_rules.py what must hold between them. A host with bad
settings stops the whole deploy with one message listing every problem, each naming the host
and the setting.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.connectors import get_all_connectors
from pyinfra.api.exceptions import PyinfraError

from jhgpu.checks import (ACCOUNT_NAME, groups_of, profiles_of, IMAGE_NAME, IMAGE_REF, Invalid, absolute_path, commit_sha, driver_branch,
                          domain_name, domain_or_address, git_repo, image_archive, local_file, ip_address, ipv4_network, is_type, list_of,
                          local_folder, matches, memory_size, notebook_images, number_in, one_of, optional,
                          passwords, path_under, pem_certificates, url, within)
from jhgpu.auth import AUTH_MODES, LDAP_TLS
from jhgpu.backups import KEEP_UNITS, SFTP
from jhgpu.nvidia import FLAVOURS
from jhgpu.nvidia_modules import MODULE_SETTINGS
from jhgpu.setting_rules import RULES
from jhgpu.tls import TLS_MODES


class SettingsError(PyinfraError):
    """Raised for invalid settings; pyinfra prints it and exits non-zero."""


# --- the settings -------------------------------------------------------------------------------

GROUP_NAME = matches(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "a group name (letters, digits, '.', '_', '-')")
LDAP_DN = matches(r"[^\n=]+=[^\n]+", "an LDAP DN like 'ou=people,dc=lab,dc=example'")
# A systemd.time(7) calendar event, on one line of these characters: nothing that could add a unit line.
CALENDAR_EVENT = r"[A-Za-z0-9*:,./~ -]+"
UNIX_NAME = matches(r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name (lowercase, up to 32 characters)")

def keep_policy(value: Any) -> None:
    """{restic keep unit: how many}, at least one."""
    is_type(dict)(value)
    if not value:
        raise Invalid(f"must keep some snapshots, e.g. {{'daily': 7}} (units: {', '.join(KEEP_UNITS)})")
    for unit, count in value.items():
        if unit not in KEEP_UNITS:
            raise Invalid(f"has no unit {unit!r} (known: {', '.join(KEEP_UNITS)})")
        within(f"{unit!r}:", number_in(1, None, int), count)


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
    "user_storage_quota": optional(memory_size),
    "idle_cull_timeout": optional(number_in(60)),
    "gpu_idle_timeout": optional(number_in(60)),
    "gpu_idle_grace": number_in(0),
    "gpu_idle_exempt_groups": list_of(GROUP_NAME),
    "gpu_idle_exempt_admins": is_type(bool),
    "prometheus_token_file": optional(local_file),
    "backup_repository": optional(matches(rf"/[^\n]*|{SFTP.pattern}", "a folder (/mnt/backup/hub) or sftp:USER@HOST:/PATH")),
    "backup_password_file": optional(local_file),
    "backup_ssh_key_file": optional(local_file),
    "backup_ssh_known_hosts_file": optional(local_file),
    "backup_schedule": matches(CALENDAR_EVENT, "a systemd calendar event like '*-*-* 03:00' or 'daily'"),
    "backup_check_schedule": matches(CALENDAR_EVENT, "a systemd calendar event like 'Sun *-*-* 05:00'"),
    "backup_keep": keep_policy,
    "restore_from_backup": is_type(bool),
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

def pyinfra_data_names() -> set[str]:
    """Host data that belongs to pyinfra itself (connector settings, global arguments)."""
    names = {name for name, _ in all_global_arguments() if name.startswith("_")}
    for connector in get_all_connectors().values():
        names.update(getattr(connector, "data_meta", {}))
    return names


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
    if not problems:  # the rules between settings, once each setting is valid on its own
        for rule in RULES:
            problems.extend(rule(data))
    return problems


def validate(host_name: str, data: dict[str, Any]) -> None:
    """Raise SettingsError naming the host and each bad setting; return quietly if all is well."""
    problems = problems_in(data)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise SettingsError(f"invalid settings for host '{host_name}':\n{lines}")
