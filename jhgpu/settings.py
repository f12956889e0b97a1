"""Checks every host's settings before anything is planned. The one place validation lives.

The defaults and their documentation are in `group_data/all.py`; this module says what a valid
value of each is. A host with bad settings stops the whole deploy with one message listing
every problem, each naming the host and the setting.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tarfile
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any, Callable

from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.connectors import get_all_connectors
from pyinfra.api.exceptions import PyinfraError

from jhgpu.hub import MIN_PASSWORD_LENGTH
from jhgpu.images import is_local_repo
from jhgpu.cuda import chain_cuda, judge_driver
from jhgpu.nvidia import AUTO, FLAVOURS


class SettingsError(PyinfraError):
    """Raised for invalid settings; pyinfra prints it and exits non-zero."""


class Invalid(ValueError):
    """One setting's problem, without the host (added by `validate`)."""


# --- value checks: each returns nothing or raises Invalid -----------------------------------


def _type_name(value: Any) -> str:
    return type(value).__name__


def is_type(*types: type) -> Callable[[Any], None]:
    names = " or ".join("None" if t is type(None) else t.__name__ for t in types)

    def check(value):
        # bool is an int in Python; a setting that wants a number must not take True.
        if isinstance(value, bool) and bool not in types:
            raise Invalid(f"must be {names}, got {_type_name(value)} {value!r}")
        if not isinstance(value, types):
            raise Invalid(f"must be {names}, got {_type_name(value)} {value!r}")

    return check


def absolute_path(value: Any) -> None:
    is_type(str)(value)
    if not value.startswith("/"):
        raise Invalid(f"must be an absolute path (starting with /), got {value!r}")
    path = PurePosixPath(value)
    if ".." in path.parts:
        raise Invalid(f"must not contain '..', got {value!r}")
    if str(path) == "/":
        raise Invalid("must not be / itself")


def path_under(parent: str) -> Callable[[Any], None]:
    def check(value):
        absolute_path(value)
        if PurePosixPath(parent) not in PurePosixPath(value).parents:
            raise Invalid(f"must be a folder under {parent}/, got {value!r}")

    return check


def one_of(*choices: str) -> Callable[[Any], None]:
    def check(value):
        if value not in choices:
            raise Invalid(f"must be one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def matches(pattern: str, meaning: str) -> Callable[[Any], None]:
    def check(value):
        is_type(str)(value)
        if not re.fullmatch(pattern, value):
            raise Invalid(f"must be {meaning}, got {value!r}")

    return check


def within(prefix: str, check: Callable[[Any], None], value: Any) -> None:
    """Run one check on a part of a setting, naming that part in the problem."""
    try:
        check(value)
    except Invalid as error:
        raise Invalid(f"{prefix} {error}") from None


def list_of(item_check: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(value):
        is_type(list, tuple)(value)
        for index, item in enumerate(value):
            within(f"item {index}:", item_check, item)

    return check


def url(value: Any) -> None:
    matches(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL")(value)


def local_file(value: Any) -> None:
    """A file on the machine running pyinfra (relative paths are relative to where it runs)."""
    is_type(str)(value)
    if not os.path.isfile(value):
        raise Invalid(f"must be an existing file on this machine, {value!r} is not one")


def image_archive(value: Any) -> None:
    local_file(value)
    try:
        image_archive_tags(value)
    except (tarfile.TarError, KeyError, ValueError) as error:
        raise Invalid(f"{value!r} is not a `docker save` archive with tagged images ({error})")


def pem_certificates(value: Any) -> None:
    if value is None:
        return
    local_file(value)
    with open(value, "rb") as handle:
        if b"-----BEGIN CERTIFICATE-----" not in handle.read():
            raise Invalid(f"{value!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")


def image_archive_tags(path: str) -> list[str]:
    """The image references (repo:tag) a `docker save` archive holds, read from its manifest."""
    import json

    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
    tags = [tag for entry in manifest for tag in (entry.get("RepoTags") or [])]
    if not tags:
        raise ValueError("its manifest names no image tag")
    return tags


def local_folder(value: Any) -> None:
    is_type(str)(value)
    if not os.path.isdir(value):
        raise Invalid(f"must be an existing folder on this machine, {value!r} is not one")


def git_repo(value: Any) -> None:
    """A git URL, or a git repository on the machine running pyinfra."""
    is_type(str)(value)
    if not is_local_repo(value):
        return
    if not os.path.isdir(os.path.join(value, ".git")) and not os.path.isfile(os.path.join(value, "HEAD")):
        raise Invalid(f"must be a git URL or a git repository on this machine, {value!r} is neither")


def commit_sha(value: Any) -> None:
    is_type(str)(value)
    if not re.fullmatch(r"[0-9a-f]{40}", value):
        raise Invalid(f"must be a full commit SHA (40 hex digits), got {value!r}: builds must be "
                      "reproducible, so branch and tag names are refused")


IMAGE_NAME = matches(r"[a-z0-9]+([._-][a-z0-9]+)*", "a Docker image name (lowercase, digits, . _ -)")
IMAGE_REF = matches(r"[a-z0-9]+([._/:@-][A-Za-z0-9_.-]+)*", "a Docker image reference")
IMAGE_KEYS = {"name", "context", "local_context", "parent", "build_args", "display_name", "cuda"}
CUDA_VERSION = matches(r"[0-9]+(\.[0-9]+){0,2}", "a CUDA version like '12.8' or '13'")


def notebook_images(value: Any) -> None:
    is_type(list, tuple)(value)
    seen: list[str] = []
    for index, image in enumerate(value):
        where = f"item {index}"
        if not isinstance(image, dict):
            raise Invalid(f"{where}: must be a dict, got {_type_name(image)}")
        within(f"{where}: 'name'", IMAGE_NAME, image.get("name"))
        where = f"image {image['name']!r}"
        unknown = set(image) - IMAGE_KEYS
        if unknown:
            raise Invalid(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(IMAGE_KEYS)}")
        if image["name"] in seen:
            raise Invalid(f"{where}: listed twice")
        if ("context" in image) == ("local_context" in image):
            raise Invalid(f"{where}: needs exactly one of 'context' (in the docker-stacks checkout) "
                          "or 'local_context' (a folder on this machine)")
        if "context" in image:
            context = image["context"]
            if not isinstance(context, str) or context.startswith("/") or ".." in PurePosixPath(context).parts:
                raise Invalid(f"{where}: 'context' must be a relative folder inside the checkout, got {context!r}")
        else:
            within(f"{where}: 'local_context'", local_folder, image["local_context"])
        parent = image.get("parent")
        if parent is not None and parent not in seen:
            raise Invalid(f"{where}: parent {parent!r} must be an image listed before it")
        args = image.get("build_args", {})
        if not isinstance(args, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in args.items()):
            raise Invalid(f"{where}: 'build_args' must map names to strings, got {args!r}")
        if image.get("display_name") is not None and not isinstance(image["display_name"], str):
            raise Invalid(f"{where}: 'display_name' must be str or None")
        if image.get("cuda") is not None:
            within(f"{where}: 'cuda'", CUDA_VERSION, image["cuda"])
        seen.append(image["name"])


ACCOUNT_NAME = matches(r"[a-z0-9][a-z0-9._-]{0,63}",
                       "an account name (lowercase letters, digits, '.', '_', '-'; up to 64)")


def number_in(low: float, high: float | None = None, *types: type) -> Callable[[Any], None]:
    types = types or (int,)

    def check(value):
        is_type(*types)(value)
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise Invalid(f"must be {bounds}, got {value!r}")

    return check


def optional(check: Callable[[Any], None]) -> Callable[[Any], None]:
    return lambda value: None if value is None else check(value)


def gpu_count(value: Any) -> None:
    if value != "all":
        within("must be 'all' or a number of GPUs:", number_in(1), value)


def memory_size(value: Any) -> None:
    matches(r"[1-9][0-9]*[KMGT]?", "a size like '8G' or '512M'")(value)


def driver_branch(value: Any) -> None:
    if value != AUTO:
        matches(r"[0-9]{3}", "'auto', None or a driver branch like '580'")(value)


def passwords(value: Any) -> None:
    is_type(dict)(value)
    for name, password in value.items():
        within(f"account {name!r}:", ACCOUNT_NAME, name)
        if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
            raise Invalid(f"account {name!r}: the password must be a string of at least "
                          f"{MIN_PASSWORD_LENGTH} characters")


# --- the settings -------------------------------------------------------------------------------

UNIX_NAME = matches(r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name (lowercase, up to 32 characters)")

SETTINGS: dict[str, Callable[[Any], None]] = {
    "jupyterhub_user": UNIX_NAME,
    "jupyterhub_root": absolute_path,
    "users_home_root": absolute_path,
    "shared_data_dir": path_under("/mnt"),
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
    "notebook_images": notebook_images,
    "base_packages": list_of(matches(r"[a-z0-9][a-z0-9+.:=~-]*", "a Debian package name")),
    "hub_base_image": IMAGE_REF,
    "jupyterhub_version": matches(r"[0-9]+\.[0-9]+\.[0-9]+", "a JupyterHub release like '5.4.2'"),
    "hub_port": number_in(1, 65535),
    "hub_admin_users": list_of(ACCOUNT_NAME),
    "hub_users": list_of(ACCOUNT_NAME),
    "hub_passwords": passwords,
    "hub_passwords_file": absolute_path,
    "user_gpus": gpu_count,
    "user_mem_limit": optional(memory_size),
    "user_cpu_limit": optional(number_in(0.1, None, int, float)),
    "idle_cull_timeout": optional(number_in(60)),
    "nvidia_driver_branch": optional(driver_branch),
    "nvidia_driver_flavour": one_of(*FLAVOURS),
    "nvidia_allow_reboot": is_type(bool),
    "nvidia_container_toolkit_repo_url": url,
    "nvidia_container_toolkit_key_url": url,
    "nvidia_container_toolkit_version": matches(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.~+]+)?",
                                                "a toolkit package version like '1.20.0-1'"),
    "debian_mirror_url": url,
    "gpu_check_image": optional(IMAGE_NAME),
}

# Folders the deploy owns with different owners and modes: none may hold another.
SEPARATE_FOLDERS = ("jupyterhub_root", "users_home_root", "shared_data_dir")


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
    return problems


def validate(host_name: str, data: dict[str, Any]) -> None:
    """Raise SettingsError naming the host and each bad setting; return quietly if all is well."""
    problems = problems_in(data)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise SettingsError(f"invalid settings for host '{host_name}':\n{lines}")
