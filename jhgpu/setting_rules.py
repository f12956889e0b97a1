"""Rules between settings: problems no single setting shows (folders inside each other, settings
that only make sense together, names that must match another setting's). Each rule takes a host's
settings, every one already valid on its own (jhgpu/settings.py checks that first), and returns
its problems as lines naming the settings."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any

from jhgpu.auth import LDAP, OIDC
from jhgpu.backups import sftp_command
from jhgpu.cuda import chain_cuda, judge_driver
from jhgpu.group_profiles import unknown_images
from jhgpu.images import is_local_repo
from jhgpu.nvidia_branches import AUTO
from jhgpu.tls import tls_problems


# Folders the deploy owns with different owners and modes: none may hold another.
SEPARATE_FOLDERS = ("jupyterhub_root", "users_home_root", "shared_data_dir", "team_folders_root")


def folder_overlaps(values: dict[str, Any]) -> list[str]:
    problems = []
    for index, first in enumerate(SEPARATE_FOLDERS):
        for second in SEPARATE_FOLDERS[index + 1:]:
            a, b = PurePosixPath(values[first]), PurePosixPath(values[second])
            if a == b or a in b.parents or b in a.parents:
                problems.append(f"settings {first} ({a}) and {second} ({b}) must be separate folders")
    return problems


def missing_local_ref(data: dict[str, Any]) -> list[str]:
    repo, ref = data["docker_stacks_repo"], data["docker_stacks_ref"]
    if not is_local_repo(repo):
        return []  # checked by the host's fetch
    found = subprocess.run(["git", "-C", repo, "cat-file", "-e", f"{ref}^{{commit}}"], capture_output=True)
    if found.returncode != 0:
        return [f"setting 'docker_stacks_ref' {ref} is not a commit of docker_stacks_repo {repo!r}"]
    return []


def account_problems(data: dict[str, Any]) -> list[str]:
    admins, users = data["hub_admin_users"], data["hub_users"]
    problems = [f"setting 'hub_users' lists {name!r}, already in hub_admin_users or listed twice"
                for index, name in enumerate(users) if name in admins or name in users[:index]]
    problems += [f"setting 'hub_admin_users' lists {name!r} twice"
                 for index, name in enumerate(admins) if name in admins[:index]]
    problems += [f"setting 'hub_passwords' has a password for {name!r}, which is not in hub_admin_users "
                 "or hub_users" for name in data["hub_passwords"] if name not in [*admins, *users]]
    return problems


def offers_an_image(data: dict[str, Any]) -> list[str]:
    if any(image.get("display_name") for image in data["notebook_images"]):
        return []
    return ["setting 'notebook_images' offers users no image: give at least one a 'display_name'"]


def gpu_problems(data: dict[str, Any]) -> list[str]:
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


def storage_problems(data: dict[str, Any]) -> list[str]:
    if data["shared_storage"] != "external-nfs":
        return []
    needed = ("nfs_server", "nfs_homes_export", "nfs_shared_export", *(("nfs_teams_export",) if data["team_folders"] else ()))
    return [f"setting '{name}' is needed with shared_storage = 'external-nfs'" + (" and team_folders" if name == "nfs_teams_export" else "")
            for name in needed if not data[name]]


def group_problems(data: dict[str, Any]) -> list[str]:
    problems = [f"setting 'team_folders' lists {name!r} twice" for index, name in enumerate(data["team_folders"])
                if name in data["team_folders"][:index]]
    offered = [image["display_name"] for image in data["notebook_images"] if image.get("display_name")]
    problems += [f"setting 'group_profiles' {problem}, which is not the display_name of any of notebook_images "
                 f"({', '.join(offered)})" for problem in unknown_images(data["group_profiles"], offered)]
    if data["hub_groups"] and data["hub_auth"] != "native":
        problems.append(f"setting 'hub_groups' applies to hub_auth = 'native' only: with {data['hub_auth']!r}, "
                        "groups come from the directory")
    return problems


def ldap_problems(data: dict[str, Any]) -> list[str]:
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


def oidc_problems(data: dict[str, Any]) -> list[str]:
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


def backup_problems(data: dict[str, Any]) -> list[str]:
    """Settings backup_repository needs."""
    if not data["backup_repository"]:
        return ["setting 'restore_from_backup' needs backup_repository"] if data["restore_from_backup"] else []
    needed = ["backup_password_file"]
    if sftp_command(data["backup_repository"]):
        needed += ["backup_ssh_key_file", "backup_ssh_known_hosts_file"]
    return [f"setting '{name}' is needed with backup_repository = {data['backup_repository']!r}"
            for name in needed if not data[name]]


RULES = (folder_overlaps, missing_local_ref, account_problems, offers_an_image, gpu_problems, tls_problems,
         storage_problems, ldap_problems, oidc_problems, backup_problems, group_problems)
