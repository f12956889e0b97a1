"""Apt lines for Debian's driver beside the sources a host already has: nothing twice, the host's
own mirrors and keys kept. The sources are parsed by the fact the deploy uses (pyinfra's parser
for one-line and deb822 files)."""

from __future__ import annotations

from jhgpu.apt_sources import WantedSuite, lines_adding
from jhgpu.facts.apt import OtherAptSources
from jhgpu.nvidia import debian_driver_sources
from jhgpu.platform import Release

BOOKWORM = Release("debian", "12", "bookworm")
MIRROR, SECURITY = "http://deb.debian.org/debian", "http://security.debian.org/debian-security"


def sources(*files: tuple[str, str]) -> list:
    """What OtherAptSources reads from these files (path, text)."""
    lines = []
    for path, text in files:
        lines += [f"##PYINFRA_FILE {path}", *text.splitlines(), ""]
    return OtherAptSources().process(lines)


def driver_lines(*files: tuple[str, str]) -> list[str]:
    return debian_driver_sources(BOOKWORM, MIRROR, SECURITY, sources(*files))[1:]  # the header aside


def test_debootstraps_bare_sources_get_the_missing_suites_whole():
    assert driver_lines(("/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\n")) == [
        "deb http://deb.debian.org/debian bookworm contrib non-free non-free-firmware",
        f"deb {MIRROR} bookworm-updates main contrib non-free non-free-firmware",
        f"deb {SECURITY} bookworm-security main contrib non-free non-free-firmware"]


def test_an_admins_own_mirror_and_its_key_are_kept_for_the_suites_it_serves():
    deb822 = ("Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main contrib non-free non-free-firmware\n"
              "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
              "Types: deb\nURIs: http://mirror.example.org/debian-security\nSuites: bookworm-security\n"
              "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    # Everything but the security suite's non-main components is there: only those are added,
    # at the admin's mirror, with the same key (apt refuses two keys for one source).
    assert driver_lines(("/etc/apt/sources.list.d/debian.sources", deb822)) == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.org/debian-security "
        "bookworm-security contrib non-free non-free-firmware"]


def test_sources_that_have_it_all_get_no_line():
    full = "".join(f"deb {uri} {suite} main contrib non-free non-free-firmware\n"
                   for uri, suite in ((MIRROR, "bookworm"), (MIRROR, "bookworm-updates"), (SECURITY, "bookworm-security")))
    assert driver_lines(("/etc/apt/sources.list", full)) == []


def test_deb_src_lines_and_other_uris_do_not_count_as_the_suite():
    wanted = [WantedSuite(MIRROR, "bookworm", ("main", "non-free"))]
    existing = sources(("/etc/apt/sources.list", "deb-src http://deb.debian.org/debian bookworm main non-free\n"
                                                 "deb http://deb.debian.org/debian/ bookworm main\n"
                                                 "deb http://other.example.org/debian bookworm non-free\n"))
    assert lines_adding(wanted, existing) == ["deb http://deb.debian.org/debian/ bookworm non-free"]
