"""What a user's groups allow their servers (group_profiles): GPUs, images, memory, CPUs and the
longest run. Pure: the profiles and a user's groups in, one Profile out.

Runs in two places: here, where the deploy checks the settings, and in the Hub, which the deploy
gives this file beside files/gpu_spawner.py; the spawner asks it at every spawn form, start and
poll, so a group change at the next login takes effect at once.

A member of several groups gets the most any of them allows. A profile that leaves a field out
allows the default (the *_DEFAULT arguments: the settings user_mem_limit, user_cpu_limit,
max_gpus_per_user, every image, no time limit). With any profile set, someone in no profiled group
gets the defaults but no GPU: GPUs are what a lab has too few of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FIELDS = ("max_gpus", "images", "mem_limit", "cpu_limit", "max_hours")
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_bytes(size: str | None) -> float:
    """"8G" -> bytes; None (no limit) -> infinity, so the most generous limit is the largest."""
    if size is None:
        return float("inf")
    number, unit = re.fullmatch(r"([0-9]+)([KMGT]?)", str(size)).groups()
    return int(number) * _UNITS[unit]


@dataclass(frozen=True)
class Profile:
    max_gpus: int
    images: tuple[str, ...] | None  # display names offered; None: every image
    mem_limit: str | None  # None: no limit
    cpu_limit: float | None  # None: no limit
    max_hours: float | None  # None: runs until stopped or culled

    def offered(self, images: dict[str, str]) -> dict[str, str]:
        """The spawn form's {display name: image} this profile offers, in the configured order."""
        if self.images is None:
            return dict(images)
        return {name: image for name, image in images.items() if name in self.images}


def _most(values, key=lambda value: value):
    """The most generous of values where None means unlimited."""
    values = list(values)
    return None if None in values else max(values, key=key)


def profile_of(profiles: dict[str, dict], groups: list[str], *, max_gpus: int, mem_limit: str | None,
               cpu_limit: float | None) -> Profile:
    """The Profile of a user in `groups`; the keyword arguments are the defaults (settings)."""
    defaults = {"max_gpus": max_gpus, "images": None, "mem_limit": mem_limit, "cpu_limit": cpu_limit,
                "max_hours": None}
    if not profiles:
        return Profile(**defaults)
    mine = [profiles[group] for group in groups if group in profiles]
    if not mine:
        return Profile(**{**defaults, "max_gpus": 0})

    def each(field):
        return [profile.get(field, defaults[field]) for profile in mine]

    images = each("images")
    return Profile(
        max_gpus=max(each("max_gpus")),
        images=None if None in images else tuple(dict.fromkeys(name for names in images for name in names)),
        mem_limit=_most(each("mem_limit"), key=memory_bytes),
        cpu_limit=_most(each("cpu_limit")),
        max_hours=_most(each("max_hours")),
    )


def unknown_images(profiles: dict[str, dict], display_names: list[str]) -> list[str]:
    """'group: name' for every image a profile names that notebook_images does not offer."""
    return [f"group {group!r} names image {name!r}" for group, profile in profiles.items()
            for name in profile.get("images", []) if name not in display_names]


def over_time(started_seconds_ago: float, max_hours: float | None) -> bool:
    return max_hours is not None and started_seconds_ago > max_hours * 3600
