"""OS support and Docker installation per release, with recorded facts (no Ubuntu archive here).

These run the real deploy.py through pyinfra with the facts of a freshly installed host and
check the commands it would run. What they cannot prove: that the packages exist in the archive
at install time; the Debian 12 path is also proven live by the end-to-end test.
"""

import pytest

from jhgpu.platform import SUPPORTED, UnsupportedHost, docker_plan, keyring_path, supported_release
from recorded import REPO, run_deploy
from recorded_hosts import OS_RELEASES, distribution, fresh_host

APT_INSTALL = "apt-get -y -o Dpkg::Options::=\"--force-confdef\" -o Dpkg::Options::=\"--force-confold\" install"


def installs(commands):
    """The packages each `apt-get install` installs, in order."""
    return [cmd.split(" install ", 1)[1].split() for cmd in commands if APT_INSTALL in cmd]


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_supported_releases_are_recognised(distro, version):
    codename, pretty = OS_RELEASES[(distro, version)]
    release = supported_release("gpu01", distribution(distro, version, codename, pretty))
    assert (release.distro, release.version, release.codename) == (distro, version, codename)


@pytest.mark.parametrize("fact, shown", [
    (distribution("ubuntu", "18.04", "bionic", "Ubuntu 18.04.6 LTS"), "Ubuntu 18.04.6 LTS"),
    (distribution("debian", "11", "bullseye", "Debian GNU/Linux 11 (bullseye)"), "Debian GNU/Linux 11"),
    ({"name": "CentOS Stream", "major": 9, "minor": None,
      "release_meta": {"ID": "centos", "VERSION_ID": "9", "PRETTY_NAME": "CentOS Stream 9"}}, "CentOS Stream 9"),
    (None, "an unknown OS"),
])
def test_other_systems_are_refused_by_name(fact, shown):
    with pytest.raises(UnsupportedHost) as error:
        supported_release("gpu01", fact)
    assert "host 'gpu01' runs " + shown in str(error.value)
    assert "Ubuntu 20.04 (focal)" in str(error.value)


def test_unsupported_host_gets_no_command():
    facts = fresh_host("ubuntu", "20.04")
    facts["server.LinuxDistribution"] = distribution("ubuntu", "18.04", "bionic", "Ubuntu 18.04.6 LTS")
    with pytest.raises(UnsupportedHost):
        run_deploy(facts)


@pytest.mark.parametrize("version", ["20.04", "22.04", "24.04"])
def test_ubuntu_distro_docker_brings_compose_v2_and_buildx(version):
    # Ubuntu's docker.io only Suggests both; its client refuses DOCKER_BUILDKIT=1 without buildx.
    commands = run_deploy(fresh_host("ubuntu", version), docker_source="distro", gpu_enabled=False)
    assert installs(commands) == [["curl", "git", "gnupg"], ["docker.io", "docker-compose-v2", "docker-buildx"]]
    assert "systemctl enable docker.service" in commands
    assert not any("download.docker.com" in command for command in commands)


def test_debian_12_distro_docker_brings_compose_v1():
    commands = run_deploy(fresh_host("debian", "12"), docker_source="distro", gpu_enabled=False)
    assert installs(commands)[-1] == ["docker.io", "docker-compose"]


def test_debian_13_distro_docker_brings_its_client_buildx_and_compose_v2():
    commands = run_deploy(fresh_host("debian", "13"), docker_source="distro", gpu_enabled=False)
    assert installs(commands)[-1] == ["docker.io", "docker-cli", "docker-buildx", "docker-compose"]


def test_dockers_own_plugins_are_not_installed_over():
    facts = fresh_host("ubuntu", "22.04")
    facts["deb.DebPackages"] = {**facts["deb.DebPackages"], "docker-compose-plugin": {"2.40.0-1"}}
    commands = run_deploy(facts, gpu_enabled=False)
    assert installs(commands)[-1] == ["docker.io", "docker-buildx"]


@pytest.mark.parametrize("source, installed, other", [("distro", "docker-ce", "docker-ce"),
                                                      ("docker-ce", "docker.io", "distro")])
def test_docker_from_the_other_source_is_refused_before_any_change(source, installed, other):
    facts = fresh_host("ubuntu", "24.04")
    facts["deb.DebPackages"] = {**facts["deb.DebPackages"], installed: {"1"}}
    with pytest.raises(UnsupportedHost) as error:
        run_deploy(facts, docker_source=source, gpu_enabled=False)
    assert f"docker_source is {source!r}, but this host has {installed}" in str(error.value)
    assert f"Set docker_source = {other!r}" in str(error.value)


@pytest.mark.parametrize("distro, version", list(OS_RELEASES))
def test_docker_ce_comes_from_dockers_signed_repository(distro, version):
    codename, _ = OS_RELEASES[(distro, version)]
    commands = run_deploy(fresh_host(distro, version), docker_source="docker-ce", gpu_enabled=False)
    key_download = next(i for i, c in enumerate(commands) if f"linux/{distro}/gpg" in c)
    repo_line = next(i for i, c in enumerate(commands) if "sources.list.d/docker.list" in c)
    docker_install = next(i for i, c in enumerate(commands) if "docker-ce " in c and APT_INSTALL in c)
    assert key_download < repo_line < docker_install
    keyring = keyring_path("docker", f"https://download.docker.com/linux/{distro}/gpg")
    assert commands.uploads["/etc/apt/sources.list.d/docker.list"] == (
        f"deb [signed-by={keyring}] https://download.docker.com/linux/{distro} {codename} stable\n")
    assert any("mv /var/lib/jupytergpu-uploads/pyinfra-" in c and keyring in c for c in commands)  # not /tmp
    assert commands[docker_install - 1] == "apt-get update"
    assert installs(commands)[-1] == ["docker-ce", "docker-ce-cli", "containerd.io",
                                      "docker-buildx-plugin", "docker-compose-plugin"]


def test_docker_ce_mirror_is_a_setting():
    commands = run_deploy(fresh_host("ubuntu", "20.04"), docker_source="docker-ce", gpu_enabled=False,
                          docker_ce_repo_url="https://mirror.example.org/docker/")
    assert any("https://mirror.example.org/docker/ubuntu/gpg" in command for command in commands)


def test_hub_user_and_folders_on_a_fresh_host():
    commands = run_deploy(fresh_host("ubuntu", "20.04"))
    assert "useradd -d /home/jupyterhub -s /usr/sbin/nologin -g jupyterhub -r -m jupyterhub" in commands  # no docker group
    for path, mode, owner in [("/home/jupyterhub/JupyterHubGPU", "750", "jupyterhub:jupyterhub"),
                              ("/home/jh_users", "700", "root:root"),
                              ("/mnt/shared", "755", "jupyterhub:jupyterhub")]:
        assert f"chmod {mode} {path}" in commands
        assert f"chown {owner} {path}" in commands


def test_supported_list_matches_recorded_hosts():
    assert {(r.distro, r.version) for r in SUPPORTED} == set(OS_RELEASES)


def test_default_chain_fetches_the_pinned_upstream_commit_and_builds_on_cuda():
    """The upstream path cannot run here (no GitHub, no registry): recorded facts show its commands."""
    from recorded import default_settings

    settings = default_settings()
    commands = run_deploy(fresh_host("ubuntu", "20.04"))
    fetch = next(c for c in commands if "git -C" in c and "fetch" in c)
    assert f"fetch -q --depth 1 https://github.com/jupyter/docker-stacks.git {settings['docker_stacks_ref']}" in fetch
    applies = [c for c in commands if "git apply --check" in c]
    assert [a.split("docker-stacks-patches/")[1].split(";")[0] for a in applies] == [
        p.name for p in sorted((REPO / "files" / "docker-stacks-patches").glob("*.patch"))]
    assert f"docker pull {settings['notebook_root_image']}" in commands
    builds = [c for c in commands if "docker build" in c and "-t jupytergpu/hub:" not in c]
    assert len(builds) == len(settings["notebook_images"])
    assert f"--build-arg ROOT_IMAGE={settings['notebook_root_image']}" in builds[0]
    assert all("DOCKER_BUILDKIT=1" in b for b in builds)


@pytest.mark.parametrize("distro, version, source, command", [
    ("ubuntu", "20.04", "distro", "docker compose"),
    ("ubuntu", "24.04", "distro", "docker compose"),
    ("debian", "12", "distro", "docker-compose"),
    ("debian", "12", "docker-ce", "docker compose"),
    ("debian", "13", "distro", "docker compose"),
    ("ubuntu", "20.04", "docker-ce", "docker compose"),
])
def test_the_deploy_knows_the_compose_command_it_installs(distro, version, source, command):
    release = next(r for r in SUPPORTED if (r.distro, r.version) == (distro, version))
    assert docker_plan(release, source, "https://download.docker.com/linux").compose_command == command


def test_a_checkout_whose_files_changed_is_made_anew():
    """The checkout records a digest of its files: one edited or deleted by hand no longer matches."""
    from jhgpu.images import checkout_marker, patch_files
    from recorded import default_settings

    settings = default_settings()
    dest = "/home/jupyterhub/JupyterHubGPU/docker-stacks"
    marker = checkout_marker(settings["docker_stacks_ref"], patch_files(str(REPO / "files" / "docker-stacks-patches")))
    recorded = [*marker.splitlines(), "tree abc123"]
    facts = fresh_host("ubuntu", "24.04")
    facts["files.FileContents"] = lambda path: recorded if path == f"{dest}/.jhgpu-checkout" else None
    for digest, fetched in [("abc123", False), ("def456", True)]:
        facts["jhgpu.facts.files.TreeDigest"] = lambda path, exclude="", digest=digest: digest if path == dest else None
        commands = run_deploy(facts, gpu_enabled=False)
        assert any("fetch -q --depth 1" in c for c in commands) is fetched


def test_a_dpkg_run_left_unfinished_is_finished_before_anything_is_installed():
    facts = {**fresh_host("ubuntu", "20.04"), "jhgpu.facts.apt.DpkgInterrupted": True}
    commands = run_deploy(facts)
    configure = commands.index("DEBIAN_FRONTEND=noninteractive dpkg --configure -a --force-confdef --force-confold")
    assert configure < next(i for i, c in enumerate(commands) if "apt-get" in c and "install" in c)


def test_the_hub_user_is_taken_out_of_the_docker_group_an_older_deploy_put_it_in():
    facts = fresh_host("ubuntu", "22.04")
    assert not any("gpasswd" in command for command in run_deploy(facts))
    facts["server.Users"] = {**facts["server.Users"], "jupyterhub": {
        "home": "/home/jupyterhub", "group": "jupyterhub", "groups": ["docker"], "uid": 999, "gid": 999,
        "shell": "/usr/sbin/nologin"}}
    assert "gpasswd -d jupyterhub docker" in run_deploy(facts)


def test_uploads_through_sudo_pass_through_a_folder_of_the_login_users_own():
    """pyinfra uploads as the login user, then copies with sudo: by default through /tmp, where
    an account request or a TLS key would be readable by every account until removed."""
    commands = run_deploy(fresh_host(), ssh_user="deployer", _sudo=True)
    folder = commands.index("mkdir -p /var/lib/jupytergpu-uploads")
    assert commands[folder + 1:folder + 3] == ["chmod 700 /var/lib/jupytergpu-uploads",
                                               "chown deployer /var/lib/jupytergpu-uploads"]
    first_upload = next(i for i, c in enumerate(commands) if c.startswith("PUT ") or "pyinfra-" in c)
    assert folder < first_upload
    assert not any("/tmp/pyinfra-" in c for c in commands)


def test_team_folders_are_made_for_the_notebook_user_in_a_root_only_folder():
    commands = run_deploy(fresh_host(), team_folders=["vision"], gpu_enabled=False)
    root = commands.index("mkdir -p /home/jh_teams")
    assert commands[root + 1:root + 3] == ["chmod 700 /home/jh_teams", "chown root:root /home/jh_teams"]
    assert ("mkdir -p /home/jh_teams/vision && chown 1000:100 /home/jh_teams/vision && chmod 2770 /home/jh_teams/vision"
            in commands[root:])
    assert "mkdir -p /home/jh_teams" not in run_deploy(fresh_host(), gpu_enabled=False)  # no team folders: no root
    # By number: uid 1000's name differs from host to host (here the sudo user's), so a rerun
    # that compared names would change it again and again.
    made = {**fresh_host(), "jhgpu.facts.files.FolderIds": lambda path: "1000 100 2770"}
    assert not any("/home/jh_teams/vision" in c for c in run_deploy(made, team_folders=["vision"], gpu_enabled=False))
