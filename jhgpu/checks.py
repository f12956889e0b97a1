"""Checks of single setting values, used by jhgpu/settings.py. Each takes a value and returns
nothing, or raises Invalid saying what is wrong with it (the caller adds the host and setting).
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import PurePosixPath
from typing import Any, Callable

from jhgpu.hub import HUB_IMAGE_NAME, MIN_PASSWORD_LENGTH, USERNAME_PATTERN
from jhgpu.images import is_local_repo
from jhgpu.nvidia_branches import AUTO


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
    # Paths reach shell commands and the Compose file: only characters that need no quoting.
    if not re.fullmatch(r"[A-Za-z0-9._/+@-]+", value):
        raise Invalid(f"must use only letters, digits and . _ - + @ / (it reaches shell commands and "
                      f"the Compose file), got {value!r}")
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


def by_group(group_name: Callable[[Any], None], entry: Callable[[Any], None]) -> Callable[[Any], None]:
    """{group name: entry}, each name and entry checked; a problem names its group."""
    def check(value):
        is_type(dict)(value)
        for name, item in value.items():
            try:
                group_name(name)
                entry(item)
            except Invalid as error:
                raise Invalid(f"group {name!r}: {error}") from None

    return check


def groups_of(group_name: Callable[[Any], None], member: Callable[[Any], None]) -> Callable[[Any], None]:
    """{group name: [member, ...]}, each name and member checked."""
    return by_group(group_name, list_of(member))


def profiles_of(group_name: Callable[[Any], None], fields: dict[str, Callable[[Any], None]]) -> Callable[[Any], None]:
    """{group name: {field: value}}, with only the known fields, each checked."""
    def profile(value):
        is_type(dict)(value)
        for field, item in value.items():
            if field not in fields:
                raise Invalid(f"has no field {field!r} (known: {', '.join(fields)})")
            fields[field](item)

    return by_group(group_name, profile)


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


def domain_name(value: Any) -> None:
    """A DNS name like "hub.example.org": certificates are issued for names, and Let's Encrypt
    issues none for a bare IP address through this setup."""
    import ipaddress

    is_type(str)(value)
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        pass
    else:
        raise Invalid(f"must be a domain name, not the IP address {value!r}: point a DNS name at the server")
    matches(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
            "a lowercase domain name like 'hub.example.org'")(value)


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
        if image["name"] == HUB_IMAGE_NAME:
            raise Invalid(f"{where}: the name is the Hub's own image's (<image_owner>/{HUB_IMAGE_NAME}); choose another")
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


ACCOUNT_NAME = matches(USERNAME_PATTERN,
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


def domain_or_address(value: Any) -> None:
    """A server by DNS name or IP address."""
    try:
        ip_address(value)
    except Invalid:
        try:
            domain_name(value)
        except Invalid:
            raise Invalid(f"must be a server's DNS name or IP address, got {value!r}") from None


def ip_address(value: Any) -> None:
    import ipaddress

    is_type(str)(value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise Invalid(f"must be an IP address of the host (like '0.0.0.0' or '127.0.0.1'), got {value!r}") from None


def ipv4_network(value: Any) -> None:
    import ipaddress

    is_type(str)(value)
    try:
        ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise Invalid(f"must be an IPv4 address or network (like '169.254.169.254' or '10.0.0.0/8'), "
                      f"got {value!r}") from None


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


