"""What a user's groups allow their servers (jhgpu/group_profiles.py, which the Hub runs too)."""

import pytest

from jhgpu.group_profiles import Profile, memory_bytes, over_time, profile_of

DEFAULTS = {"max_gpus": 1, "mem_limit": "8G", "cpu_limit": 4}
PROFILES = {
    "vision": {"max_gpus": 2, "images": ["PyTorch"], "mem_limit": "32G", "max_hours": 72},
    "teaching": {"max_gpus": 0, "images": ["SciPy"], "cpu_limit": 1, "max_hours": 4},
    "staff": {},
}
IMAGES = {"SciPy": "jupytergpu/scipy", "PyTorch": "jupytergpu/pytorch", "TensorFlow": "jupytergpu/tf"}


@pytest.mark.parametrize("groups, allowed", [
    (["vision"], 2), (["vision", "teaching"], 2),  # the most any of their groups allows
    (["teaching"], 0), (["nlp"], 0), ([], 0),  # a group without a profile gives no GPU
    (["staff"], 1),  # a profile without max_gpus: max_gpus_per_user
])
def test_a_users_groups_decide_how_many_gpus_they_may_ask_for(groups, allowed):
    assert profile_of(PROFILES, groups, **DEFAULTS).max_gpus == allowed
    assert profile_of({}, groups, **DEFAULTS).max_gpus == 1  # no profiles: max_gpus_per_user for everyone


def test_images_are_those_any_of_the_users_groups_offers_in_the_configured_order():
    assert list(profile_of(PROFILES, ["teaching", "vision"], **DEFAULTS).offered(IMAGES)) == ["SciPy", "PyTorch"]
    assert list(profile_of(PROFILES, ["teaching"], **DEFAULTS).offered(IMAGES)) == ["SciPy"]
    # a profile that names no images, no profile at all, or no profiles: every image
    assert list(profile_of(PROFILES, ["teaching", "staff"], **DEFAULTS).offered(IMAGES)) == list(IMAGES)
    assert list(profile_of(PROFILES, ["nlp"], **DEFAULTS).offered(IMAGES)) == list(IMAGES)
    assert list(profile_of({}, [], **DEFAULTS).offered(IMAGES)) == list(IMAGES)


def test_limits_are_the_most_generous_of_the_users_groups_or_the_defaults():
    vision = profile_of(PROFILES, ["vision"], **DEFAULTS)
    assert (vision.mem_limit, vision.cpu_limit, vision.max_hours) == ("32G", 4, 72)
    teaching = profile_of(PROFILES, ["teaching"], **DEFAULTS)
    assert (teaching.mem_limit, teaching.cpu_limit, teaching.max_hours) == ("8G", 1, 4)
    both = profile_of(PROFILES, ["teaching", "vision"], **DEFAULTS)
    assert (both.mem_limit, both.cpu_limit, both.max_hours) == ("32G", 4, 72)
    # staff's profile sets no hours: no limit wins over any number, as None means unlimited
    assert profile_of(PROFILES, ["teaching", "staff"], **DEFAULTS).max_hours is None
    # a group that sets a limit where the default is none gets its own; one that does not, none
    unlimited = profile_of(PROFILES, ["vision"], max_gpus=1, mem_limit=None, cpu_limit=None)
    assert (unlimited.mem_limit, unlimited.cpu_limit) == ("32G", None)


def test_memory_sizes_compare_by_bytes_not_by_text():
    assert memory_bytes("512M") < memory_bytes("8G") < memory_bytes("1T") < memory_bytes(None)
    assert profile_of({"a": {"mem_limit": "900M"}, "b": {"mem_limit": "2G"}}, ["a", "b"],
                      **DEFAULTS).mem_limit == "2G"


def test_a_server_is_over_time_only_past_its_groups_hours():
    assert over_time(4 * 3600 + 1, 4) and not over_time(4 * 3600 - 1, 4)
    assert not over_time(10**9, None)
    assert Profile(0, None, None, None, None).offered(IMAGES) == IMAGES
